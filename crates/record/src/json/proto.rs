//! Hand-written JSON for the request bodies added after schema v1's four
//! (`postgres`, `mysql`, `redis`, `kafka`) and for gRPC's part of an HTTP/2
//! record.
//!
//! They went through serde at first; on a Redis capture of 400k commands
//! that was a third of podwire's CPU time (serde_json scans every key for
//! escapes, and `Option`/enum fields go through its generic machinery). The
//! writers below produce the same bytes: fields in declaration order, `None`
//! as `null`, enums by their serde names. Like the rest of `json`, the tests
//! pin them to `serde_json::to_string` (every field present and absent,
//! random values), and `podwire`'s fixture tests compare every record of the
//! committed captures; a field added to a body must be added here too, or
//! those tests fail.

use super::{write_opt_f64, write_opt_str, write_opt_u64, write_str, write_u64};
use crate::proto::kafka::{KafkaPartition, KafkaTopic};
use crate::proto::postgres::PgProtocol;
use crate::{Grpc, Kafka, Mysql, Outcome, Postgres, ProtoError, Redis};

// Each branch appends a constant: a couple of moves, where one call with
// a length chosen at run time is a `memcpy` call.

#[inline]
fn write_bool(out: &mut Vec<u8>, b: bool) {
    if b {
        out.extend_from_slice(b"true");
    } else {
        out.extend_from_slice(b"false");
    }
}

#[inline]
fn write_outcome(out: &mut Vec<u8>, o: Option<Outcome>) {
    match o {
        None => out.extend_from_slice(b"null"),
        Some(Outcome::Ok) => out.extend_from_slice(b"\"ok\""),
        Some(Outcome::Error) => out.extend_from_slice(b"\"error\""),
    }
}

fn write_error(out: &mut Vec<u8>, e: Option<&ProtoError>) {
    match e {
        None => out.extend_from_slice(b"null"),
        Some(e) => {
            out.extend_from_slice(b"{\"code\":");
            write_opt_str(out, e.code.as_deref());
            out.extend_from_slice(b",\"message\":");
            write_opt_str(out, e.message.as_deref());
            out.push(b'}');
        }
    }
}

#[inline]
fn write_i64(out: &mut Vec<u8>, v: i64) {
    match u64::try_from(v) {
        Ok(v) => write_u64(out, v),
        Err(_) => out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes()),
    }
}

#[inline]
fn write_opt_u32(out: &mut Vec<u8>, v: Option<u32>) {
    write_opt_u64(out, v.map(u64::from));
}

/// `,"operation":...` and the rest of a `Redis` body.
pub(super) fn write_redis(out: &mut Vec<u8>, r: &Redis) {
    let Redis {
        operation,
        command,
        key,
        channel,
        pattern,
        args,
        command_bytes,
        queued,
        latency_ms,
        outcome,
        error,
        reply_type,
        reply_bytes,
        reply_elements,
        reply_errors,
        payload_bytes,
        truncated,
    } = r;
    out.extend_from_slice(b",\"operation\":");
    write_str(out, operation);
    out.extend_from_slice(b",\"command\":");
    write_opt_str(out, command.as_deref());
    out.extend_from_slice(b",\"key\":");
    write_opt_str(out, key.as_deref());
    out.extend_from_slice(b",\"channel\":");
    write_opt_str(out, channel.as_deref());
    out.extend_from_slice(b",\"pattern\":");
    write_opt_str(out, pattern.as_deref());
    out.extend_from_slice(b",\"args\":");
    write_u64(out, *args);
    out.extend_from_slice(b",\"command_bytes\":");
    write_u64(out, *command_bytes);
    out.extend_from_slice(b",\"queued\":");
    write_bool(out, *queued);
    out.extend_from_slice(b",\"latency_ms\":");
    write_opt_f64(out, *latency_ms);
    out.extend_from_slice(b",\"outcome\":");
    write_outcome(out, *outcome);
    out.extend_from_slice(b",\"error\":");
    write_error(out, error.as_ref());
    out.extend_from_slice(b",\"reply_type\":");
    write_opt_str(out, *reply_type);
    out.extend_from_slice(b",\"reply_bytes\":");
    write_opt_u64(out, *reply_bytes);
    out.extend_from_slice(b",\"reply_elements\":");
    write_opt_u64(out, *reply_elements);
    out.extend_from_slice(b",\"reply_errors\":");
    write_opt_u64(out, *reply_errors);
    out.extend_from_slice(b",\"payload_bytes\":");
    write_opt_u64(out, *payload_bytes);
    out.extend_from_slice(b",\"truncated\":");
    write_bool(out, *truncated);
}

/// `,"operation":...` and the rest of a `Postgres` body.
pub(super) fn write_postgres(out: &mut Vec<u8>, p: &Postgres) {
    let Postgres {
        operation,
        statement,
        truncated,
        statement_name,
        protocol,
        database,
        user,
        application,
        backend_pid,
        latency_ms,
        outcome,
        error,
        severity,
        tag,
        rows,
        copy_bytes,
        notices,
        channel,
        auth,
    } = p;
    out.extend_from_slice(b",\"operation\":");
    write_str(out, operation);
    out.extend_from_slice(b",\"statement\":");
    write_opt_str(out, statement.as_deref());
    out.extend_from_slice(b",\"truncated\":");
    write_bool(out, *truncated);
    out.extend_from_slice(b",\"statement_name\":");
    write_opt_str(out, statement_name.as_deref());
    out.extend_from_slice(b",\"protocol\":");
    match protocol {
        None => out.extend_from_slice(b"null"),
        Some(PgProtocol::Simple) => out.extend_from_slice(b"\"simple\""),
        Some(PgProtocol::Extended) => out.extend_from_slice(b"\"extended\""),
    }
    out.extend_from_slice(b",\"database\":");
    write_opt_str(out, database.as_deref());
    out.extend_from_slice(b",\"user\":");
    write_opt_str(out, user.as_deref());
    out.extend_from_slice(b",\"application\":");
    write_opt_str(out, application.as_deref());
    out.extend_from_slice(b",\"backend_pid\":");
    write_opt_u32(out, *backend_pid);
    out.extend_from_slice(b",\"latency_ms\":");
    write_opt_f64(out, *latency_ms);
    out.extend_from_slice(b",\"outcome\":");
    write_outcome(out, *outcome);
    out.extend_from_slice(b",\"error\":");
    write_error(out, error.as_ref());
    out.extend_from_slice(b",\"severity\":");
    write_opt_str(out, severity.as_deref());
    out.extend_from_slice(b",\"tag\":");
    write_opt_str(out, tag.as_deref());
    out.extend_from_slice(b",\"rows\":");
    write_opt_u64(out, *rows);
    out.extend_from_slice(b",\"copy_bytes\":");
    write_opt_u64(out, *copy_bytes);
    out.extend_from_slice(b",\"notices\":");
    write_u64(out, u64::from(*notices));
    out.extend_from_slice(b",\"channel\":");
    write_opt_str(out, channel.as_deref());
    out.extend_from_slice(b",\"auth\":");
    write_opt_str(out, auth.as_deref());
}

/// `,"operation":...` and the rest of a `Mysql` body.
pub(super) fn write_mysql(out: &mut Vec<u8>, m: &Mysql) {
    let Mysql {
        operation,
        command,
        statement,
        truncated,
        statement_id,
        user,
        database,
        server_version,
        latency_ms,
        outcome,
        error,
        sqlstate,
        results,
        columns,
        rows,
        affected_rows,
        warnings,
        infile_bytes,
    } = m;
    out.extend_from_slice(b",\"operation\":");
    write_str(out, operation);
    out.extend_from_slice(b",\"command\":");
    write_str(out, command);
    out.extend_from_slice(b",\"statement\":");
    write_opt_str(out, statement.as_deref());
    out.extend_from_slice(b",\"truncated\":");
    write_bool(out, *truncated);
    out.extend_from_slice(b",\"statement_id\":");
    write_opt_u32(out, *statement_id);
    out.extend_from_slice(b",\"user\":");
    write_opt_str(out, user.as_deref());
    out.extend_from_slice(b",\"database\":");
    write_opt_str(out, database.as_deref());
    out.extend_from_slice(b",\"server_version\":");
    write_opt_str(out, server_version.as_deref());
    out.extend_from_slice(b",\"latency_ms\":");
    write_opt_f64(out, *latency_ms);
    out.extend_from_slice(b",\"outcome\":");
    write_outcome(out, *outcome);
    out.extend_from_slice(b",\"error\":");
    write_error(out, error.as_ref());
    out.extend_from_slice(b",\"sqlstate\":");
    write_opt_str(out, sqlstate.as_deref());
    out.extend_from_slice(b",\"results\":");
    write_opt_u32(out, *results);
    out.extend_from_slice(b",\"columns\":");
    write_opt_u64(out, *columns);
    out.extend_from_slice(b",\"rows\":");
    write_opt_u64(out, *rows);
    out.extend_from_slice(b",\"affected_rows\":");
    write_opt_u64(out, *affected_rows);
    out.extend_from_slice(b",\"warnings\":");
    write_opt_u64(out, warnings.map(u64::from));
    out.extend_from_slice(b",\"infile_bytes\":");
    write_opt_u64(out, *infile_bytes);
}

/// `,"operation":...` and the rest of a `Kafka` body.
pub(super) fn write_kafka(out: &mut Vec<u8>, k: &Kafka) {
    let Kafka {
        operation,
        latency_ms,
        outcome,
        error,
        api_key,
        api_version,
        correlation_id,
        client_id,
        acks,
        topics,
        records,
        record_bytes,
        request_bytes,
        response_bytes,
        truncated,
    } = k;
    out.extend_from_slice(b",\"operation\":");
    write_str(out, operation);
    out.extend_from_slice(b",\"latency_ms\":");
    write_opt_f64(out, *latency_ms);
    out.extend_from_slice(b",\"outcome\":");
    write_outcome(out, *outcome);
    out.extend_from_slice(b",\"error\":");
    write_error(out, error.as_ref());
    out.extend_from_slice(b",\"api_key\":");
    write_i64(out, i64::from(*api_key));
    out.extend_from_slice(b",\"api_version\":");
    write_i64(out, i64::from(*api_version));
    out.extend_from_slice(b",\"correlation_id\":");
    write_i64(out, i64::from(*correlation_id));
    out.extend_from_slice(b",\"client_id\":");
    write_opt_str(out, client_id.as_deref());
    out.extend_from_slice(b",\"acks\":");
    match acks {
        Some(a) => write_i64(out, i64::from(*a)),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"topics\":[");
    for (i, t) in topics.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_topic(out, t);
    }
    out.extend_from_slice(b"],\"records\":");
    write_opt_u64(out, *records);
    out.extend_from_slice(b",\"record_bytes\":");
    write_opt_u64(out, *record_bytes);
    out.extend_from_slice(b",\"request_bytes\":");
    write_u64(out, *request_bytes);
    out.extend_from_slice(b",\"response_bytes\":");
    write_opt_u64(out, *response_bytes);
    out.extend_from_slice(b",\"truncated\":");
    write_bool(out, *truncated);
}

fn write_topic(out: &mut Vec<u8>, t: &KafkaTopic) {
    let KafkaTopic {
        name,
        id,
        records,
        record_bytes,
        partitions,
    } = t;
    out.extend_from_slice(b"{\"name\":");
    write_opt_str(out, name.as_deref());
    out.extend_from_slice(b",\"id\":");
    write_opt_str(out, id.as_deref());
    out.extend_from_slice(b",\"records\":");
    write_opt_u64(out, *records);
    out.extend_from_slice(b",\"record_bytes\":");
    write_opt_u64(out, *record_bytes);
    out.extend_from_slice(b",\"partitions\":[");
    for (i, p) in partitions.iter().enumerate() {
        let KafkaPartition {
            partition,
            records,
            record_bytes,
            error,
        } = p;
        out.extend_from_slice(if i == 0 {
            b"{\"partition\":"
        } else {
            b",{\"partition\":"
        });
        write_i64(out, i64::from(*partition));
        out.extend_from_slice(b",\"records\":");
        write_opt_u64(out, *records);
        out.extend_from_slice(b",\"record_bytes\":");
        write_opt_u64(out, *record_bytes);
        out.extend_from_slice(b",\"error\":");
        write_opt_str(out, error.as_deref());
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
}

/// gRPC's object inside an `http` record.
pub(super) fn write_grpc(out: &mut Vec<u8>, g: &Grpc) {
    let Grpc {
        service,
        method,
        status,
        message,
        request_messages,
        response_messages,
    } = g;
    out.extend_from_slice(b"{\"service\":");
    write_str(out, service);
    out.extend_from_slice(b",\"method\":");
    write_str(out, method);
    out.extend_from_slice(b",\"status\":");
    write_opt_u32(out, *status);
    out.extend_from_slice(b",\"message\":");
    write_opt_str(out, message.as_deref());
    out.extend_from_slice(b",\"request_messages\":");
    write_u64(out, *request_messages);
    out.extend_from_slice(b",\"response_messages\":");
    write_u64(out, *response_messages);
    out.push(b'}');
}
