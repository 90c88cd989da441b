//! The SOCKS5 server state machine: greeting, optional RFC 1929
//! sub-negotiation, then one CONNECT request.

use super::addr::TargetAddr;
use super::error::{ReplyCode, SocksError, Stage};
use std::fmt;
use std::net::SocketAddr;

const VERSION: u8 = 5;
const AUTH_VERSION: u8 = 1;
const METHOD_NONE: u8 = 0x00;
const METHOD_USERPASS: u8 = 0x02;
const CMD_CONNECT: u8 = 0x01;

/// Username and password of RFC 1929.
pub type Credentials = (Vec<u8>, Vec<u8>);

/// Which authentication methods the listener accepts.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum AuthPolicy {
    /// Only "no authentication".
    NoAuth,
    /// Only username/password; clients without credentials are refused.
    UserPass,
    /// Either; username/password is chosen when offered so that the
    /// client's credentials can isolate its streams.
    #[default]
    Either,
}

/// Credentials used only to keep streams apart: two requests with
/// different keys must never share a circuit. `Debug` hides the bytes.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct IsolationKey(pub Option<Credentials>);

impl fmt::Debug for IsolationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("IsolationKey(none)"),
            Some(_) => f.write_str("IsolationKey(<credentials>)"),
        }
    }
}

/// A complete CONNECT request.
#[derive(Clone, PartialEq, Eq)]
pub struct SocksRequest {
    pub target: TargetAddr,
    /// Username and password, if the client authenticated.
    pub isolation: Option<Credentials>,
}

impl SocksRequest {
    pub fn isolation_key(&self) -> IsolationKey {
        IsolationKey(self.isolation.clone())
    }
}

impl fmt::Debug for SocksRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocksRequest")
            .field("target", &self.target)
            .field("isolation", &self.isolation_key())
            .finish()
    }
}

/// What one call to [`SocksServer::on_bytes`] produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// Send `send` (possibly empty) and feed more bytes.
    NeedMore { send: Vec<u8> },
    /// Send `send`, then open the stream and answer with [`reply`].
    /// `early_data` are bytes the client sent after its request; they
    /// belong to the stream and must be forwarded first.
    Ready {
        send: Vec<u8>,
        request: SocksRequest,
        early_data: Vec<u8>,
    },
}

#[derive(Debug)]
enum State {
    Greeting,
    Auth,
    Request,
    Done,
    Failed(SocksError),
}

/// Server side of one SOCKS5 negotiation. Buffers at most one message
/// (≤ 513 bytes of the auth sub-negotiation) beyond what it has parsed.
#[derive(Debug)]
pub struct SocksServer {
    policy: AuthPolicy,
    state: State,
    buf: Vec<u8>,
    /// Replies produced in the call that then failed (e.g. the method
    /// choice before a bad auth message in the same read).
    unsent: Vec<u8>,
    /// Credentials from the sub-negotiation, kept until the request.
    isolation: Option<Credentials>,
}

impl SocksServer {
    pub fn new(policy: AuthPolicy) -> Self {
        SocksServer {
            policy,
            state: State::Greeting,
            buf: Vec::new(),
            unsent: Vec::new(),
            isolation: None,
        }
    }

    /// Feeds bytes from the client. After an error, send
    /// [`SocksServer::take_closing_bytes`] and close the connection.
    pub fn on_bytes(&mut self, data: &[u8]) -> Result<Progress, SocksError> {
        match &self.state {
            State::Done => return Err(SocksError::AfterRequest),
            State::Failed(e) => return Err(e.clone()),
            _ => {}
        }
        self.buf.extend_from_slice(data);
        let mut send = Vec::new();
        match self.advance(&mut send) {
            Ok(None) => Ok(Progress::NeedMore { send }),
            Ok(Some(request)) => Ok(Progress::Ready {
                send,
                request,
                early_data: std::mem::take(&mut self.buf),
            }),
            Err(e) => {
                self.unsent = send;
                self.buf = Vec::new();
                self.state = State::Failed(e.clone());
                Err(e)
            }
        }
    }

    /// Everything to write after `e` before closing: replies already due
    /// to earlier messages of the failed read, then the failure's own reply.
    pub fn take_closing_bytes(&mut self, e: &SocksError) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.unsent);
        out.extend(e.closing_bytes());
        out
    }

    /// Bytes held but not yet parsed; bounded by the largest message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The client closed its side: an unfinished negotiation is truncated.
    pub fn on_eof(&mut self) -> SocksError {
        let e = match self.state {
            State::Greeting => SocksError::Truncated(Stage::Greeting),
            State::Auth => SocksError::Truncated(Stage::Auth),
            State::Request => SocksError::Truncated(Stage::Request),
            State::Done => SocksError::AfterRequest,
            State::Failed(ref e) => return e.clone(),
        };
        self.state = State::Failed(e.clone());
        e
    }

    /// Parses as many whole messages as are buffered.
    fn advance(&mut self, send: &mut Vec<u8>) -> Result<Option<SocksRequest>, SocksError> {
        loop {
            match self.state {
                State::Greeting => {
                    let Some(method) = self.greeting()? else {
                        return Ok(None);
                    };
                    send.extend_from_slice(&[VERSION, method]);
                    self.state = if method == METHOD_USERPASS {
                        State::Auth
                    } else {
                        State::Request
                    };
                }
                State::Auth => {
                    let Some(creds) = self.auth()? else {
                        return Ok(None);
                    };
                    send.extend_from_slice(&[AUTH_VERSION, 0]);
                    self.isolation = Some(creds);
                    self.state = State::Request;
                }
                State::Request => {
                    let Some(target) = self.request()? else {
                        return Ok(None);
                    };
                    self.state = State::Done;
                    return Ok(Some(SocksRequest {
                        target,
                        isolation: self.isolation.take(),
                    }));
                }
                State::Done | State::Failed(_) => return Err(SocksError::AfterRequest),
            }
        }
    }

    /// `VER ‖ NMETHODS ‖ METHODS`; returns the chosen method.
    fn greeting(&mut self) -> Result<Option<u8>, SocksError> {
        let (Some(&ver), Some(&n)) = (self.buf.first(), self.buf.get(1)) else {
            return Ok(None);
        };
        if ver != VERSION {
            return Err(SocksError::BadVersion {
                stage: Stage::Greeting,
                version: ver,
            });
        }
        if n == 0 {
            return Err(SocksError::NoMethods);
        }
        let end = 2 + usize::from(n);
        let Some(methods) = self.buf.get(2..end) else {
            return Ok(None);
        };
        let offers = |m: u8| methods.contains(&m);
        let chosen = match self.policy {
            AuthPolicy::NoAuth if offers(METHOD_NONE) => METHOD_NONE,
            AuthPolicy::UserPass if offers(METHOD_USERPASS) => METHOD_USERPASS,
            AuthPolicy::Either if offers(METHOD_USERPASS) => METHOD_USERPASS,
            AuthPolicy::Either if offers(METHOD_NONE) => METHOD_NONE,
            _ => return Err(SocksError::NoAcceptableMethod),
        };
        self.buf.drain(..end);
        Ok(Some(chosen))
    }

    /// `VER ‖ ULEN ‖ UNAME ‖ PLEN ‖ PASSWD` (RFC 1929). An empty password
    /// is accepted because common clients send one for `user:`.
    fn auth(&mut self) -> Result<Option<Credentials>, SocksError> {
        let (Some(&ver), Some(&ulen)) = (self.buf.first(), self.buf.get(1)) else {
            return Ok(None);
        };
        if ver != AUTH_VERSION {
            return Err(SocksError::BadAuthVersion(ver));
        }
        if ulen == 0 {
            return Err(SocksError::EmptyUsername);
        }
        let ulen = usize::from(ulen);
        let Some(&plen) = self.buf.get(2 + ulen) else {
            return Ok(None);
        };
        let end = 3 + ulen + usize::from(plen);
        let (Some(user), Some(pass)) = (self.buf.get(2..2 + ulen), self.buf.get(3 + ulen..end))
        else {
            return Ok(None);
        };
        let creds = (user.to_vec(), pass.to_vec());
        self.buf.drain(..end);
        Ok(Some(creds))
    }

    /// `VER ‖ CMD ‖ RSV ‖ ATYP ‖ DST.ADDR ‖ DST.PORT`. RSV is ignored, as
    /// most servers do, so sloppy clients still work.
    fn request(&mut self) -> Result<Option<TargetAddr>, SocksError> {
        let Some(&ver) = self.buf.first() else {
            return Ok(None);
        };
        if ver != VERSION {
            return Err(SocksError::BadVersion {
                stage: Stage::Request,
                version: ver,
            });
        }
        let Some(&cmd) = self.buf.get(1) else {
            return Ok(None);
        };
        if cmd != CMD_CONNECT {
            return Err(SocksError::UnknownCommand(cmd));
        }
        let Some(rest) = self.buf.get(3..) else {
            return Ok(None);
        };
        let Some((target, used)) = TargetAddr::decode(rest)? else {
            return Ok(None);
        };
        self.buf.drain(..3 + used);
        Ok(Some(target))
    }
}

/// A SOCKS5 reply: `VER ‖ REP ‖ RSV ‖ BND.ADDR ‖ BND.PORT`.
pub fn reply(code: ReplyCode, bound: SocketAddr) -> Vec<u8> {
    let mut out = vec![VERSION, code as u8, 0];
    // IP addresses always encode.
    let _ = TargetAddr::Ip(bound).encode_into(&mut out);
    out
}
