//! RFC 7541 Appendix C, plus the ways a block can be broken or unknown.

use super::*;

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn decode(d: &mut Decoder, hex: &str) -> Vec<(String, String)> {
    let mut got = Vec::new();
    d.decode(
        &unhex(hex),
        |_| true,
        |f| match f {
            Field::Known { name, value } => got.push((
                String::from_utf8_lossy(name).into_owned(),
                String::from_utf8_lossy(value).into_owned(),
            )),
            Field::Unknown => got.push(("?".into(), "?".into())),
        },
    )
    .unwrap();
    got
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn c2_literals_and_indexed() {
    let mut d = Decoder::new(65536);
    assert_eq!(
        decode(
            &mut d,
            "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"
        ),
        pairs(&[("custom-key", "custom-header")])
    );
    assert_eq!(d.table.size(), 55);
    assert_eq!(
        decode(&mut d, "040c 2f73 616d 706c 652f 7061 7468"),
        pairs(&[(":path", "/sample/path")])
    );
    assert_eq!(
        decode(&mut d, "1008 7061 7373 776f 7264 0673 6563 7265 74"),
        pairs(&[("password", "secret")])
    );
    assert_eq!(decode(&mut d, "82"), pairs(&[(":method", "GET")]));
    assert_eq!(d.table.len(), 1);
}

const C3_REQ1: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const C3_REQ2: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const C3_REQ3: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];

#[test]
fn c3_requests_without_huffman() {
    let mut d = Decoder::new(65536);
    let r1 = decode(&mut d, "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d");
    assert_eq!(r1, pairs(C3_REQ1));
    assert_eq!(d.table.size(), 57);
    let r2 = decode(&mut d, "8286 84be 5808 6e6f 2d63 6163 6865");
    assert_eq!(r2, pairs(C3_REQ2));
    assert_eq!(d.table.size(), 110);
    let r3 = decode(
        &mut d,
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
    );
    assert_eq!(r3, pairs(C3_REQ3));
    assert_eq!(d.table.size(), 164);
}

#[test]
fn c4_requests_with_huffman() {
    let mut d = Decoder::new(65536);
    assert_eq!(
        decode(&mut d, "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"),
        pairs(C3_REQ1)
    );
    assert_eq!(
        decode(&mut d, "8286 84be 5886 a8eb 1064 9cbf"),
        pairs(C3_REQ2)
    );
    assert_eq!(
        decode(
            &mut d,
            "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"
        ),
        pairs(C3_REQ3)
    );
    assert_eq!(d.table.size(), 164);
}

const C5_RESP1: &[(&str, &str)] = &[
    (":status", "302"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const C5_RESP2: &[(&str, &str)] = &[
    (":status", "307"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const C5_RESP3: &[(&str, &str)] = &[
    (":status", "200"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
    ("location", "https://www.example.com"),
    ("content-encoding", "gzip"),
    (
        "set-cookie",
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    ),
];

/// A decoder whose peer set a 256-byte table, as in C.5 and C.6.
fn small_table() -> Decoder {
    let mut d = Decoder::new(65536);
    d.table.set_max_size(256, false);
    d
}

#[test]
fn c5_responses_with_evictions_without_huffman() {
    let mut d = small_table();
    let r1 = decode(
        &mut d,
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 \
         2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 \
         6c65 2e63 6f6d",
    );
    assert_eq!(r1, pairs(C5_RESP1));
    assert_eq!(d.table.size(), 222);
    assert_eq!(decode(&mut d, "4803 3330 37c1 c0bf"), pairs(C5_RESP2));
    assert_eq!(d.table.size(), 222);
    let r3 = decode(
        &mut d,
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d \
         54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 \
         5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e \
         3d31",
    );
    assert_eq!(r3, pairs(C5_RESP3));
    assert_eq!(d.table.size(), 215);
    assert_eq!(d.table.len(), 3);
}

#[test]
fn c6_responses_with_evictions_and_huffman() {
    let mut d = small_table();
    let r1 = decode(
        &mut d,
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 \
         2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
    );
    assert_eq!(r1, pairs(C5_RESP1));
    assert_eq!(decode(&mut d, "4883 640e ffc1 c0bf"), pairs(C5_RESP2));
    let r3 = decode(
        &mut d,
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab \
         77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f \
         9587 3160 65c0 03ed 4ee5 b106 3d50 07",
    );
    assert_eq!(r3, pairs(C5_RESP3));
    assert_eq!(d.table.size(), 215);
}

#[test]
fn an_unknown_table_yields_unknown_fields_not_guesses() {
    let mut d = Decoder::new(65536);
    d.forget();
    // :method GET (static), then dynamic index 62 (unknown), then a literal
    // inserted with the name of unknown entry 63, then index 62 again: now
    // the entry just inserted, whose value is known but name is not.
    let got = decode(&mut d, "82 be 7f00 0178 be");
    assert_eq!(
        got,
        pairs(&[(":method", "GET"), ("?", "?"), ("?", "?"), ("?", "?")])
    );
    // A fully literal insertion is known from then on.
    let got = decode(&mut d, "4003 6b65 7903 7661 6c be bf");
    assert_eq!(got, pairs(&[("key", "val"), ("key", "val"), ("?", "?")]));
    // A size update to zero empties the encoder's table: known again.
    assert!(!d.is_known());
    decode(&mut d, "20");
    assert!(d.is_known());
}

#[test]
fn broken_blocks_are_errors_and_forget_the_table() {
    for hex in ["80", "c0", "41", "4105 6162", "ff ffff ffff ff", "41 81 ff"] {
        let mut d = Decoder::new(65536);
        assert!(d.decode(&unhex(hex), |_| true, |_| {}).is_err(), "{hex}");
        assert!(!d.is_known(), "{hex}");
    }
}

#[test]
fn a_size_update_above_the_cap_is_capped() {
    let mut d = Decoder::new(1024);
    decode(&mut d, "3fe1 1f"); // 4096
    assert_eq!(d.table.max_size(), 1024);
    d.settings_table_size(100_000);
    assert_eq!(d.table.max_size(), 1024);
}

#[test]
fn unwanted_literals_are_skipped_but_still_checked() {
    let mut d = Decoder::new(65536);
    // C.2.3 (never indexed "password: secret") and a literal without
    // indexing of :path; only :path is wanted.
    let block =
        unhex("1008 7061 7373 776f 7264 0673 6563 7265 74 040c 2f73 616d 706c 652f 7061 7468");
    let mut got = Vec::new();
    d.decode(
        &block,
        |n| n.starts_with(b":"),
        |f| got.push(format!("{f:?}")),
    )
    .unwrap();
    assert_eq!(got.len(), 1);
    assert!(d
        .decode(
            &unhex("1008 7061 7373 776f 7264 0673 6563"),
            |_| false,
            |_| {}
        )
        .is_err());
}
