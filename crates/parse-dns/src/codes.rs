//! Mnemonics for RR types and response codes, as records and dashboards show
//! them.
//!
//! Names are IANA's (the DNS Parameters registry), spelled as `dig` prints
//! them; numbers without a name use the RFC 3597 generic form (`TYPE65280`)
//! and, by analogy, `RCODE4000` for response codes, so every value has a
//! stable, parseable string.

/// The mnemonic of an RR type (`"A"`, `"HTTPS"`, ...) or `TYPEnnn` (RFC 3597).
pub fn qtype_name(t: u16) -> String {
    match known_type(t) {
        Some(name) => name.to_string(),
        None => format!("TYPE{t}"),
    }
}

/// The mnemonic of a response code (`"NXDOMAIN"`, `"BADVERS"`, ...) or
/// `RCODEnnn`. Takes the full 12-bit code, EDNS extension included.
pub fn rcode_name(r: u16) -> String {
    let name = match r {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        11 => "DSOTYPENI",
        // 16 is also BADSIG, but only inside a TSIG record; in a header
        // (with the OPT extension) it can only be BADVERS.
        16 => "BADVERS",
        17 => "BADKEY",
        18 => "BADTIME",
        19 => "BADMODE",
        20 => "BADNAME",
        21 => "BADALG",
        22 => "BADTRUNC",
        23 => "BADCOOKIE",
        _ => return format!("RCODE{r}"),
    };
    name.to_string()
}

/// IANA's mnemonic for an RR type, where it has one.
pub(crate) fn known_type(t: u16) -> Option<&'static str> {
    Some(match t {
        1 => "A",
        2 => "NS",
        3 => "MD",
        4 => "MF",
        5 => "CNAME",
        6 => "SOA",
        7 => "MB",
        8 => "MG",
        9 => "MR",
        10 => "NULL",
        11 => "WKS",
        12 => "PTR",
        13 => "HINFO",
        14 => "MINFO",
        15 => "MX",
        16 => "TXT",
        17 => "RP",
        18 => "AFSDB",
        19 => "X25",
        20 => "ISDN",
        21 => "RT",
        22 => "NSAP",
        23 => "NSAP-PTR",
        24 => "SIG",
        25 => "KEY",
        26 => "PX",
        27 => "GPOS",
        28 => "AAAA",
        29 => "LOC",
        30 => "NXT",
        31 => "EID",
        32 => "NIMLOC",
        33 => "SRV",
        34 => "ATMA",
        35 => "NAPTR",
        36 => "KX",
        37 => "CERT",
        38 => "A6",
        39 => "DNAME",
        40 => "SINK",
        41 => "OPT",
        42 => "APL",
        43 => "DS",
        44 => "SSHFP",
        45 => "IPSECKEY",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        49 => "DHCID",
        50 => "NSEC3",
        51 => "NSEC3PARAM",
        52 => "TLSA",
        53 => "SMIMEA",
        55 => "HIP",
        56 => "NINFO",
        57 => "RKEY",
        58 => "TALINK",
        59 => "CDS",
        60 => "CDNSKEY",
        61 => "OPENPGPKEY",
        62 => "CSYNC",
        63 => "ZONEMD",
        64 => "SVCB",
        65 => "HTTPS",
        66 => "DSYNC",
        99 => "SPF",
        100 => "UINFO",
        101 => "UID",
        102 => "GID",
        103 => "UNSPEC",
        104 => "NID",
        105 => "L32",
        106 => "L64",
        107 => "LP",
        108 => "EUI48",
        109 => "EUI64",
        249 => "TKEY",
        250 => "TSIG",
        251 => "IXFR",
        252 => "AXFR",
        253 => "MAILB",
        254 => "MAILA",
        255 => "ANY",
        256 => "URI",
        257 => "CAA",
        258 => "AVC",
        259 => "DOA",
        260 => "AMTRELAY",
        261 => "RESINFO",
        32768 => "TA",
        32769 => "DLV",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_types() {
        assert_eq!(qtype_name(1), "A");
        assert_eq!(qtype_name(28), "AAAA");
        assert_eq!(qtype_name(64), "SVCB");
        assert_eq!(qtype_name(65), "HTTPS");
        assert_eq!(qtype_name(255), "ANY");
    }

    #[test]
    fn unnamed_type_is_rfc3597() {
        assert_eq!(qtype_name(65280), "TYPE65280");
        assert_eq!(qtype_name(54), "TYPE54");
    }

    #[test]
    fn rcodes() {
        assert_eq!(rcode_name(0), "NOERROR");
        assert_eq!(rcode_name(3), "NXDOMAIN");
        assert_eq!(rcode_name(16), "BADVERS");
        assert_eq!(rcode_name(12), "RCODE12");
        assert_eq!(rcode_name(4095), "RCODE4095");
    }
}
