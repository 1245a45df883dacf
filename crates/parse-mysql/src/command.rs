//! Client commands: their names, what response each gets, and what a
//! record takes from each.
//!
//! Every command packet starts a new sequence (id 0) and its first byte
//! names it. What follows decides how the server's answer is read: a
//! general result (OK, ERR, LOCAL INFILE or a result set), one packet, the
//! prepare response, a field list, an authentication exchange, nothing at
//! all (`COM_QUIT`, `COM_STMT_CLOSE`, `COM_STMT_SEND_LONG_DATA`), or a
//! replication stream this parser does not follow.

/// How the server answers a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// OK, ERR, LOCAL INFILE or result set(s).
    Result,
    /// One packet: OK, ERR, EOF, or a string (`COM_STATISTICS`).
    Single,
    /// `COM_STMT_PREPARE`'s OK with the statement id and its definitions.
    Prepare,
    /// Column definitions up to an EOF (`COM_FIELD_LIST`).
    FieldList,
    /// Rows up to an EOF (`COM_STMT_FETCH`).
    Rows,
    /// Authentication exchange up to OK or ERR (login, `COM_CHANGE_USER`).
    Auth,
    /// No answer.
    None,
    /// A stream of replication events or a clone: the parse ends here.
    Stream,
}

/// What this parser knows of a command byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Command {
    pub code: u8,
    /// Name without `COM_` (the record's `command`).
    pub name: &'static str,
    pub reply: Reply,
}

pub const QUIT: u8 = 0x01;
pub const INIT_DB: u8 = 0x02;
pub const QUERY: u8 = 0x03;
pub const FIELD_LIST: u8 = 0x04;
pub const CHANGE_USER: u8 = 0x11;
pub const STMT_PREPARE: u8 = 0x16;
pub const STMT_EXECUTE: u8 = 0x17;
pub const STMT_SEND_LONG_DATA: u8 = 0x18;
pub const STMT_CLOSE: u8 = 0x19;
pub const STMT_RESET: u8 = 0x1a;
pub const STMT_FETCH: u8 = 0x1c;
pub const RESET_CONNECTION: u8 = 0x1f;
/// MariaDB's array binding.
pub const STMT_BULK_EXECUTE: u8 = 0xfa;

/// The command a packet's first byte names; `None` for unknown bytes.
pub fn command(code: u8) -> Option<Command> {
    use Reply::*;
    let (name, reply) = match code {
        0x00 => ("SLEEP", Single),
        QUIT => ("QUIT", None),
        INIT_DB => ("INIT_DB", Single),
        QUERY => ("QUERY", Result),
        FIELD_LIST => ("FIELD_LIST", FieldList),
        0x05 => ("CREATE_DB", Single),
        0x06 => ("DROP_DB", Single),
        0x07 => ("REFRESH", Single),
        0x08 => ("SHUTDOWN", Single),
        0x09 => ("STATISTICS", Single),
        0x0a => ("PROCESS_INFO", Result),
        0x0b => ("CONNECT", Single),
        0x0c => ("PROCESS_KILL", Single),
        0x0d => ("DEBUG", Single),
        0x0e => ("PING", Single),
        0x0f => ("TIME", Single),
        0x10 => ("DELAYED_INSERT", Single),
        CHANGE_USER => ("CHANGE_USER", Auth),
        0x12 => ("BINLOG_DUMP", Stream),
        0x13 => ("TABLE_DUMP", Single),
        0x14 => ("CONNECT_OUT", Single),
        0x15 => ("REGISTER_SLAVE", Single),
        STMT_PREPARE => ("STMT_PREPARE", Prepare),
        STMT_EXECUTE => ("STMT_EXECUTE", Result),
        STMT_SEND_LONG_DATA => ("STMT_SEND_LONG_DATA", None),
        STMT_CLOSE => ("STMT_CLOSE", None),
        STMT_RESET => ("STMT_RESET", Single),
        0x1b => ("SET_OPTION", Single),
        STMT_FETCH => ("STMT_FETCH", Rows),
        0x1d => ("DAEMON", Single),
        0x1e => ("BINLOG_DUMP_GTID", Stream),
        RESET_CONNECTION => ("RESET_CONNECTION", Single),
        0x20 => ("CLONE", Stream),
        STMT_BULK_EXECUTE => ("STMT_BULK_EXECUTE", Result),
        _ => return Option::None,
    };
    Some(Command { code, name, reply })
}

/// Commands whose argument is statement text.
pub fn has_text(code: u8) -> bool {
    matches!(code, QUERY | STMT_PREPARE)
}

/// Commands whose argument starts with a statement id.
pub fn has_statement_id(code: u8) -> bool {
    matches!(
        code,
        STMT_EXECUTE
            | STMT_SEND_LONG_DATA
            | STMT_CLOSE
            | STMT_RESET
            | STMT_FETCH
            | STMT_BULK_EXECUTE
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = (0..=255u8).filter_map(command).map(|c| c.name).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
