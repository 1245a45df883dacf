//! What the parser knows of each Kafka API: its name, the newest version it
//! knows, from which version it is "flexible" (compact strings and tagged
//! fields, KIP-482), and where a response's top-level error code sits.
//!
//! The table follows Apache Kafka 4.1's message definitions
//! (`clients/src/main/resources/common/message/*.json`). Flexibility never
//! goes back once introduced, so header versions stay right for versions
//! newer than the table; only bodies need the version to be known.

/// One API's entry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Api {
    pub name: &'static str,
    /// Newest version in the table.
    pub max: i16,
    /// First flexible version; `NEVER` for APIs that have none.
    pub flex: i16,
}

const NEVER: i16 = i16::MAX;

const fn a(name: &'static str, max: i16, flex: i16) -> Api {
    Api { name, max, flex }
}

/// Indexed by API key.
const APIS: [Api; 93] = [
    a("Produce", 13, 9),
    a("Fetch", 18, 12),
    a("ListOffsets", 11, 6),
    a("Metadata", 13, 9),
    a("LeaderAndIsr", 7, 4),
    a("StopReplica", 4, 2),
    a("UpdateMetadata", 8, 6),
    a("ControlledShutdown", 3, 3),
    a("OffsetCommit", 10, 8),
    a("OffsetFetch", 10, 6),
    a("FindCoordinator", 6, 3),
    a("JoinGroup", 9, 6),
    a("Heartbeat", 4, 4),
    a("LeaveGroup", 5, 4),
    a("SyncGroup", 5, 4),
    a("DescribeGroups", 6, 5),
    a("ListGroups", 5, 3),
    a("SaslHandshake", 1, NEVER),
    a("ApiVersions", 4, 3),
    a("CreateTopics", 7, 5),
    a("DeleteTopics", 6, 4),
    a("DeleteRecords", 2, 2),
    a("InitProducerId", 6, 2),
    a("OffsetForLeaderEpoch", 4, 4),
    a("AddPartitionsToTxn", 5, 3),
    a("AddOffsetsToTxn", 4, 3),
    a("EndTxn", 5, 3),
    a("WriteTxnMarkers", 2, 1),
    a("TxnOffsetCommit", 5, 3),
    a("DescribeAcls", 3, 2),
    a("CreateAcls", 3, 2),
    a("DeleteAcls", 3, 2),
    a("DescribeConfigs", 4, 4),
    a("AlterConfigs", 2, 2),
    a("AlterReplicaLogDirs", 2, 2),
    a("DescribeLogDirs", 5, 2),
    a("SaslAuthenticate", 2, 2),
    a("CreatePartitions", 3, 2),
    a("CreateDelegationToken", 3, 2),
    a("RenewDelegationToken", 2, 2),
    a("ExpireDelegationToken", 2, 2),
    a("DescribeDelegationToken", 3, 2),
    a("DeleteGroups", 2, 2),
    a("ElectLeaders", 2, 2),
    a("IncrementalAlterConfigs", 1, 1),
    a("AlterPartitionReassignments", 1, 0),
    a("ListPartitionReassignments", 0, 0),
    a("OffsetDelete", 0, NEVER),
    a("DescribeClientQuotas", 1, 1),
    a("AlterClientQuotas", 1, 1),
    a("DescribeUserScramCredentials", 0, 0),
    a("AlterUserScramCredentials", 0, 0),
    a("Vote", 2, 0),
    a("BeginQuorumEpoch", 1, 1),
    a("EndQuorumEpoch", 1, 1),
    a("DescribeQuorum", 2, 0),
    a("AlterPartition", 3, 0),
    a("UpdateFeatures", 2, 0),
    a("Envelope", 0, 0),
    a("FetchSnapshot", 1, 0),
    a("DescribeCluster", 2, 0),
    a("DescribeProducers", 0, 0),
    a("BrokerRegistration", 4, 0),
    a("BrokerHeartbeat", 1, 0),
    a("UnregisterBroker", 0, 0),
    a("DescribeTransactions", 0, 0),
    a("ListTransactions", 2, 0),
    a("AllocateProducerIds", 0, 0),
    a("ConsumerGroupHeartbeat", 1, 0),
    a("ConsumerGroupDescribe", 1, 0),
    a("ControllerRegistration", 0, 0),
    a("GetTelemetrySubscriptions", 0, 0),
    a("PushTelemetry", 0, 0),
    a("AssignReplicasToDirs", 0, 0),
    a("ListConfigResources", 1, 0),
    a("DescribeTopicPartitions", 0, 0),
    a("ShareGroupHeartbeat", 1, 0),
    a("ShareGroupDescribe", 1, 0),
    a("ShareFetch", 1, 0),
    a("ShareAcknowledge", 1, 0),
    a("AddRaftVoter", 0, 0),
    a("RemoveRaftVoter", 0, 0),
    a("UpdateRaftVoter", 0, 0),
    a("InitializeShareGroupState", 0, 0),
    a("ReadShareGroupState", 0, 0),
    a("WriteShareGroupState", 0, 0),
    a("DeleteShareGroupState", 0, 0),
    a("ReadShareGroupStateSummary", 0, 0),
    a("StreamsGroupHeartbeat", 0, 0),
    a("StreamsGroupDescribe", 0, 0),
    a("DescribeShareGroupOffsets", 0, 0),
    a("AlterShareGroupOffsets", 0, 0),
    a("DeleteShareGroupOffsets", 0, 0),
];

pub(crate) const PRODUCE: i16 = 0;
pub(crate) const FETCH: i16 = 1;
pub(crate) const CONTROLLED_SHUTDOWN: i16 = 7;
pub(crate) const SASL_HANDSHAKE: i16 = 17;
pub(crate) const API_VERSIONS: i16 = 18;

/// Versions this far beyond the table's newest are still taken for Kafka by
/// detection (clients move ahead of any table).
pub(crate) const VERSION_SLACK: i16 = 4;

/// The API of `key`, when known.
pub(crate) fn api(key: i16) -> Option<&'static Api> {
    usize::try_from(key).ok().and_then(|k| APIS.get(k))
}

/// The record's `operation` label: bounded to the table's names, `API_<n>`
/// for keys 0 to 255 outside it, and `Unknown`.
pub(crate) fn operation(key: i16) -> String {
    match api(key) {
        Some(a) => a.name.to_owned(),
        None if (0..=255).contains(&key) => format!("API_{key}"),
        None => "Unknown".to_owned(),
    }
}

/// Whether `version` of `key` uses compact types and tagged fields. Unknown
/// keys are taken as not flexible (their bodies are never parsed).
pub(crate) fn flexible(key: i16, version: i16) -> bool {
    api(key).is_some_and(|a| version >= a.flex)
}

/// Request header version: 0 (no client id) only for ControlledShutdown v0,
/// 2 (tagged fields) for flexible versions, 1 otherwise.
pub(crate) fn request_header_version(key: i16, version: i16) -> u8 {
    if key == CONTROLLED_SHUTDOWN && version == 0 {
        0
    } else if flexible(key, version) {
        2
    } else {
        1
    }
}

/// Whether the response header has tagged fields (header v1). ApiVersions
/// answers with header v0 in every version, so that a client that asked
/// with a version the broker does not know can still read the error.
pub(crate) fn response_header_flexible(key: i16, version: i16) -> bool {
    key != API_VERSIONS && flexible(key, version)
}

/// Where a response body's top-level error code sits, for APIs whose code
/// comes first (offset 0) or right after `throttle_time_ms` (offset 4).
/// Produce and Fetch are walked instead; APIs with only per-item errors, or
/// with the code further in, have none.
pub(crate) fn error_offset(key: i16, version: i16) -> Option<usize> {
    let first_or_after_throttle = |throttle_from: i16| {
        if version >= throttle_from {
            4
        } else {
            0
        }
    };
    Some(match key {
        // ControlledShutdown, LeaderAndIsr, StopReplica, UpdateMetadata,
        // SaslHandshake, ApiVersions, SaslAuthenticate, DescribeQuorum,
        // Vote, BeginQuorumEpoch, EndQuorumEpoch: error first.
        4..=7 | 17 | 18 | 36 | 52..=55 => 0,
        10 if version <= 3 => first_or_after_throttle(1),
        11 => first_or_after_throttle(2),
        12..=14 | 16 => first_or_after_throttle(1),
        // InitProducerId, AddOffsetsToTxn, EndTxn, DescribeAcls,
        // DescribeClientQuotas, DescribeUserScramCredentials, AlterPartition,
        // UpdateFeatures, FetchSnapshot, DescribeCluster, BrokerRegistration,
        // BrokerHeartbeat, UnregisterBroker, ListTransactions,
        // AllocateProducerIds, ConsumerGroupHeartbeat, GetTelemetrySubscriptions,
        // PushTelemetry, ListConfigResources, ShareGroupHeartbeat, ShareFetch,
        // ShareAcknowledge: throttle_time_ms, then the error.
        22
        | 25
        | 26
        | 29
        | 48
        | 50
        | 56
        | 57
        | 59
        | 60
        | 62..=64
        | 66..=68
        | 71
        | 72
        | 74
        | 76
        | 78
        | 79 => 4,
        _ => return None,
    })
}

/// The name of an error code, from Kafka's `Errors` table.
pub(crate) fn error_name(code: i16) -> String {
    if code == -1 {
        return "UNKNOWN_SERVER_ERROR".to_owned();
    }
    match usize::try_from(code).ok().and_then(|c| ERRORS.get(c)) {
        Some(name) => (*name).to_owned(),
        None => format!("ERROR_{code}"),
    }
}

/// Indexed by error code, from 0.
const ERRORS: [&str; 134] = [
    "NONE",
    "OFFSET_OUT_OF_RANGE",
    "CORRUPT_MESSAGE",
    "UNKNOWN_TOPIC_OR_PARTITION",
    "INVALID_FETCH_SIZE",
    "LEADER_NOT_AVAILABLE",
    "NOT_LEADER_OR_FOLLOWER",
    "REQUEST_TIMED_OUT",
    "BROKER_NOT_AVAILABLE",
    "REPLICA_NOT_AVAILABLE",
    "MESSAGE_TOO_LARGE",
    "STALE_CONTROLLER_EPOCH",
    "OFFSET_METADATA_TOO_LARGE",
    "NETWORK_EXCEPTION",
    "COORDINATOR_LOAD_IN_PROGRESS",
    "COORDINATOR_NOT_AVAILABLE",
    "NOT_COORDINATOR",
    "INVALID_TOPIC_EXCEPTION",
    "RECORD_LIST_TOO_LARGE",
    "NOT_ENOUGH_REPLICAS",
    "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
    "INVALID_REQUIRED_ACKS",
    "ILLEGAL_GENERATION",
    "INCONSISTENT_GROUP_PROTOCOL",
    "INVALID_GROUP_ID",
    "UNKNOWN_MEMBER_ID",
    "INVALID_SESSION_TIMEOUT",
    "REBALANCE_IN_PROGRESS",
    "INVALID_COMMIT_OFFSET_SIZE",
    "TOPIC_AUTHORIZATION_FAILED",
    "GROUP_AUTHORIZATION_FAILED",
    "CLUSTER_AUTHORIZATION_FAILED",
    "INVALID_TIMESTAMP",
    "UNSUPPORTED_SASL_MECHANISM",
    "ILLEGAL_SASL_STATE",
    "UNSUPPORTED_VERSION",
    "TOPIC_ALREADY_EXISTS",
    "INVALID_PARTITIONS",
    "INVALID_REPLICATION_FACTOR",
    "INVALID_REPLICA_ASSIGNMENT",
    "INVALID_CONFIG",
    "NOT_CONTROLLER",
    "INVALID_REQUEST",
    "UNSUPPORTED_FOR_MESSAGE_FORMAT",
    "POLICY_VIOLATION",
    "OUT_OF_ORDER_SEQUENCE_NUMBER",
    "DUPLICATE_SEQUENCE_NUMBER",
    "INVALID_PRODUCER_EPOCH",
    "INVALID_TXN_STATE",
    "INVALID_PRODUCER_ID_MAPPING",
    "INVALID_TRANSACTION_TIMEOUT",
    "CONCURRENT_TRANSACTIONS",
    "TRANSACTION_COORDINATOR_FENCED",
    "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
    "SECURITY_DISABLED",
    "OPERATION_NOT_ATTEMPTED",
    "KAFKA_STORAGE_ERROR",
    "LOG_DIR_NOT_FOUND",
    "SASL_AUTHENTICATION_FAILED",
    "UNKNOWN_PRODUCER_ID",
    "REASSIGNMENT_IN_PROGRESS",
    "DELEGATION_TOKEN_AUTH_DISABLED",
    "DELEGATION_TOKEN_NOT_FOUND",
    "DELEGATION_TOKEN_OWNER_MISMATCH",
    "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED",
    "DELEGATION_TOKEN_AUTHORIZATION_FAILED",
    "DELEGATION_TOKEN_EXPIRED",
    "INVALID_PRINCIPAL_TYPE",
    "NON_EMPTY_GROUP",
    "GROUP_ID_NOT_FOUND",
    "FETCH_SESSION_ID_NOT_FOUND",
    "INVALID_FETCH_SESSION_EPOCH",
    "LISTENER_NOT_FOUND",
    "TOPIC_DELETION_DISABLED",
    "FENCED_LEADER_EPOCH",
    "UNKNOWN_LEADER_EPOCH",
    "UNSUPPORTED_COMPRESSION_TYPE",
    "STALE_BROKER_EPOCH",
    "OFFSET_NOT_AVAILABLE",
    "MEMBER_ID_REQUIRED",
    "PREFERRED_LEADER_NOT_AVAILABLE",
    "GROUP_MAX_SIZE_REACHED",
    "FENCED_INSTANCE_ID",
    "ELIGIBLE_LEADERS_NOT_AVAILABLE",
    "ELECTION_NOT_NEEDED",
    "NO_REASSIGNMENT_IN_PROGRESS",
    "GROUP_SUBSCRIBED_TO_TOPIC",
    "INVALID_RECORD",
    "UNSTABLE_OFFSET_COMMIT",
    "THROTTLING_QUOTA_EXCEEDED",
    "PRODUCER_FENCED",
    "RESOURCE_NOT_FOUND",
    "DUPLICATE_RESOURCE",
    "UNACCEPTABLE_CREDENTIAL",
    "INCONSISTENT_VOTER_SET",
    "INVALID_UPDATE_VERSION",
    "FEATURE_UPDATE_FAILED",
    "PRINCIPAL_DESERIALIZATION_FAILURE",
    "SNAPSHOT_NOT_FOUND",
    "POSITION_OUT_OF_RANGE",
    "UNKNOWN_TOPIC_ID",
    "DUPLICATE_BROKER_REGISTRATION",
    "BROKER_ID_NOT_REGISTERED",
    "INCONSISTENT_TOPIC_ID",
    "INCONSISTENT_CLUSTER_ID",
    "TRANSACTIONAL_ID_NOT_FOUND",
    "FETCH_SESSION_TOPIC_ID_ERROR",
    "INELIGIBLE_REPLICA",
    "NEW_LEADER_ELECTED",
    "OFFSET_MOVED_TO_TIERED_STORAGE",
    "FENCED_MEMBER_EPOCH",
    "UNRELEASED_INSTANCE_ID",
    "UNSUPPORTED_ASSIGNOR",
    "STALE_MEMBER_EPOCH",
    "MISMATCHED_ENDPOINT_TYPE",
    "UNSUPPORTED_ENDPOINT_TYPE",
    "UNKNOWN_CONTROLLER_ID",
    "UNKNOWN_SUBSCRIPTION_ID",
    "TELEMETRY_TOO_LARGE",
    "INVALID_REGISTRATION",
    "TRANSACTION_ABORTABLE",
    "INVALID_RECORD_STATE",
    "SHARE_SESSION_NOT_FOUND",
    "INVALID_SHARE_SESSION_EPOCH",
    "FENCED_STATE_EPOCH",
    "INVALID_VOTER_KEY",
    "DUPLICATE_VOTER",
    "VOTER_NOT_FOUND",
    "INVALID_REGULAR_EXPRESSION",
    "REBOOTSTRAP_REQUIRED",
    "STREAMS_INVALID_TOPOLOGY",
    "STREAMS_INVALID_TOPOLOGY_EPOCH",
    "STREAMS_TOPOLOGY_FENCED",
    "SHARE_SESSION_LIMIT_REACHED",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_versions_follow_flexibility() {
        assert_eq!(request_header_version(PRODUCE, 8), 1);
        assert_eq!(request_header_version(PRODUCE, 9), 2);
        assert_eq!(request_header_version(FETCH, 12), 2);
        assert_eq!(request_header_version(API_VERSIONS, 3), 2);
        assert_eq!(request_header_version(CONTROLLED_SHUTDOWN, 0), 0);
        assert!(!response_header_flexible(API_VERSIONS, 3));
        assert!(response_header_flexible(3, 9));
        assert!(!response_header_flexible(3, 8));
        assert!(!flexible(SASL_HANDSHAKE, 1));
        // Newer than the table: still flexible.
        assert!(flexible(PRODUCE, 40));
    }

    #[test]
    fn names_are_bounded() {
        assert_eq!(operation(3), "Metadata");
        assert_eq!(operation(92), "DeleteShareGroupOffsets");
        assert_eq!(operation(200), "API_200");
        assert_eq!(operation(-5), "Unknown");
        assert_eq!(operation(1000), "Unknown");
    }

    #[test]
    fn error_names() {
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(35), "UNSUPPORTED_VERSION");
        assert_eq!(error_name(58), "SASL_AUTHENTICATION_FAILED");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_name(500), "ERROR_500");
    }
}
