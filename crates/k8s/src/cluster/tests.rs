use super::*;

const S: u64 = 1_000_000_000;

fn pod(uid: &str, name: &str, ip: &str, created: u64) -> Pod {
    Pod {
        uid: uid.into(),
        namespace: "shop".into(),
        name: name.into(),
        node: Some("n1".into()),
        ips: vec![ip.parse().unwrap()],
        created,
        ..Pod::default()
    }
}

fn owned_by(mut p: Pod, kind: &str, name: &str) -> Pod {
    p.owner = Some(Owner {
        kind: kind.into(),
        name: name.into(),
    });
    p
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn a_deleted_pods_address_keeps_its_history_under_the_old_name() {
    let mut c = Cluster::new(ClusterConfig::default());
    c.apply_pod(pod("u1", "web-a", "10.1.0.5", 100 * S), 101 * S);
    c.delete_pod("u1", 500 * S);
    c.apply_pod(pod("u2", "web-b", "10.1.0.5", 600 * S), 601 * S);
    let at = |ts| c.identity(ip("10.1.0.5"), 80, ts).and_then(|i| i.pod);
    assert_eq!(at(300 * S).as_deref(), Some("web-a"));
    assert_eq!(at(700 * S).as_deref(), Some("web-b"));
    assert_eq!(at(2000 * S).as_deref(), Some("web-b"));
}

#[test]
fn workloads_through_replicasets_and_jobs() {
    let mut c = Cluster::new(ClusterConfig::default());
    let mut p = owned_by(
        pod("u1", "api-5d8-x", "10.1.0.6", S),
        "ReplicaSet",
        "api-5d8",
    );
    p.template_hash = Some("5d8".into());
    c.apply_pod(p.clone(), S);
    assert_eq!(
        c.workload(&p).as_deref(),
        Some("Deployment/api"),
        "by hash before the RS is known"
    );
    c.apply_owned(Owned {
        namespace: "shop".into(),
        kind: "ReplicaSet",
        name: "api-5d8".into(),
        owner: Some(Owner {
            kind: "Deployment".into(),
            name: "api-v2".into(),
        }),
    });
    assert_eq!(
        c.workload(&p).as_deref(),
        Some("Deployment/api-v2"),
        "the RS's owner wins"
    );

    let j = owned_by(pod("u2", "backup-28-x", "10.1.0.7", S), "Job", "backup-28");
    assert_eq!(c.workload(&j).as_deref(), Some("Job/backup-28"));
    c.apply_owned(Owned {
        namespace: "shop".into(),
        kind: "Job",
        name: "backup-28".into(),
        owner: Some(Owner {
            kind: "CronJob".into(),
            name: "backup".into(),
        }),
    });
    assert_eq!(c.workload(&j).as_deref(), Some("CronJob/backup"));

    let s = owned_by(pod("u3", "db-0", "10.1.0.8", S), "StatefulSet", "db");
    assert_eq!(c.workload(&s).as_deref(), Some("StatefulSet/db"));
    let m = owned_by(pod("u4", "etcd-n1", "10.1.0.9", S), "Node", "n1");
    assert_eq!(c.workload(&m), None, "static pods have no workload");
}

#[test]
fn services_by_cluster_ip_by_slice_and_by_node_port() {
    let mut c = Cluster::new(ClusterConfig::default());
    c.apply_service(
        Service {
            uid: "s1".into(),
            namespace: "shop".into(),
            name: "api".into(),
            ips: vec![ip("10.96.0.10")],
            node_ports: vec![30080],
            external_name: None,
            created: S,
        },
        S,
    );
    c.apply_node(
        Node {
            uid: "n".into(),
            name: "n1".into(),
            ips: vec![ip("192.168.1.10")],
            created: S,
        },
        S,
    );
    c.apply_pod(pod("u1", "api-x", "10.1.0.5", S), S);
    c.apply_slice(Slice {
        namespace: "shop".into(),
        name: "api-abc".into(),
        service: "api".into(),
        pods: vec!["api-x".into()],
        addresses: vec![ip("10.1.0.5")],
        endpoints: Vec::new(),
    });
    let vip = c.identity(ip("10.96.0.10"), 80, 10 * S).unwrap();
    assert_eq!(
        (vip.service.as_deref(), vip.pod.as_deref()),
        (Some("api"), None)
    );
    let p = c.identity(ip("10.1.0.5"), 8080, 10 * S).unwrap();
    assert_eq!(p.service.as_deref(), Some("api"));
    let np = c.identity(ip("192.168.1.10"), 30080, 10 * S).unwrap();
    assert_eq!(
        (np.node.as_deref(), np.service.as_deref()),
        (Some("n1"), Some("api"))
    );
    let n = c.identity(ip("192.168.1.10"), 22, 10 * S).unwrap();
    assert_eq!((n.node.as_deref(), n.service), (Some("n1"), None));

    c.delete_slice(&("shop".into(), "api-abc".into()));
    assert_eq!(
        c.identity(ip("10.1.0.5"), 8080, 10 * S).unwrap().service,
        None
    );
    c.delete_service("s1", 20 * S);
    assert!(c.identity(ip("10.96.0.10"), 80, 100 * S).is_none());
    assert!(
        c.identity(ip("10.96.0.10"), 80, 15 * S).is_some(),
        "history"
    );
}

#[test]
fn host_network_pods_are_found_by_container_not_by_address() {
    let mut c = Cluster::new(ClusterConfig {
        node_name: Some("n1".into()),
        ..ClusterConfig::default()
    });
    let mut p = pod("u9", "node-exporter-x", "192.168.1.10", S);
    p.host_network = true;
    p.containers = vec!["c0ffee".into()];
    c.apply_pod(p, S);
    assert!(c.identity(ip("192.168.1.10"), 9100, 2 * S).is_none());
    assert_eq!(
        c.by_container("c0ffee").unwrap().pod.as_deref(),
        Some("node-exporter-x")
    );
    assert_eq!(
        c.by_pod_uid("u9").unwrap().pod.as_deref(),
        Some("node-exporter-x")
    );
    c.delete_pod("u9", 3 * S);
    assert!(c.by_container("c0ffee").is_none());
}

#[test]
fn a_pod_that_finishes_releases_its_address() {
    let mut c = Cluster::new(ClusterConfig::default());
    c.apply_pod(pod("u1", "job-a", "10.1.0.5", 100 * S), 100 * S);
    let mut done = pod("u1", "job-a", "10.1.0.5", 100 * S);
    done.ips.clear();
    c.apply_pod(done, 200 * S);
    c.apply_pod(pod("u2", "web", "10.1.0.5", 150 * S), 250 * S);
    let at = |ts| c.identity(ip("10.1.0.5"), 80, ts).and_then(|i| i.pod);
    assert_eq!(at(199 * S).as_deref(), Some("job-a"));
    assert_eq!(at(201 * S).as_deref(), Some("web"));
}

#[test]
fn tables_are_bounded_and_refusals_counted() {
    let mut c = Cluster::new(ClusterConfig {
        max_objects: 2,
        ..ClusterConfig::default()
    });
    for i in 0..4 {
        c.apply_pod(
            pod(
                &format!("u{i}"),
                &format!("p{i}"),
                &format!("10.1.0.{i}"),
                S,
            ),
            S,
        );
    }
    let s = c.stats();
    assert_eq!((s.pods, s.refused), (2, 2));
    c.apply_pod(pod("u0", "p0-renamed", "10.1.0.0", S), S);
    assert_eq!(
        c.stats().refused,
        2,
        "updates of kept objects are not refused"
    );
}

#[test]
fn peer_addresses_are_kept_for_the_peer_service_only() {
    let mut c = Cluster::new(ClusterConfig {
        peer_services: vec![("podwire".into(), "podwire-peers".into())],
        ..ClusterConfig::default()
    });
    let slice = |ns: &str, name: &str, svc: &str, ips: &[&str]| Slice {
        namespace: ns.into(),
        name: name.into(),
        service: svc.into(),
        pods: Vec::new(),
        addresses: ips.iter().map(|i| ip(i)).collect(),
        endpoints: Vec::new(),
    };
    c.apply_slice(slice(
        "podwire",
        "p-1",
        "podwire-peers",
        &["192.168.0.2", "192.168.0.1"],
    ));
    c.apply_slice(slice(
        "podwire",
        "p-2",
        "podwire-peers",
        &["192.168.0.3", "192.168.0.1"],
    ));
    c.apply_slice(slice("shop", "api-1", "api", &["10.1.0.5"]));
    assert_eq!(
        c.service_endpoints("podwire", "podwire-peers"),
        vec![ip("192.168.0.1"), ip("192.168.0.2"), ip("192.168.0.3")]
    );
    assert!(c.service_endpoints("shop", "api").is_empty(), "not kept");
    c.delete_slice(&("podwire".into(), "p-2".into()));
    assert_eq!(c.service_endpoints("podwire", "podwire-peers").len(), 2);
}

#[test]
fn other_nodes_pods_by_endpointslice_in_node_mode_correct_in_time() {
    use crate::objects::SliceEndpoint;
    let mut c = Cluster::new(ClusterConfig {
        node_pods_only: true,
        ..ClusterConfig::default()
    });
    let slice = |pods: &[(&str, &str)]| Slice {
        namespace: "shop".into(),
        name: "api-x".into(),
        service: "api".into(),
        pods: pods.iter().map(|p| p.0.to_string()).collect(),
        addresses: Vec::new(),
        endpoints: pods
            .iter()
            .map(|(pod, addr)| SliceEndpoint {
                pod: pod.to_string(),
                node: Some("n2".into()),
                ips: vec![ip(addr)],
            })
            .collect(),
    };
    c.apply_slice_at(
        slice(&[("api-1", "10.2.0.5"), ("api-2", "10.2.0.6")]),
        100 * S,
    );
    // An unrelated update keeps api-1's interval; then api-1 goes and its
    // address comes back as api-3.
    c.apply_slice_at(
        slice(&[("api-1", "10.2.0.5"), ("api-2", "10.2.0.6")]),
        150 * S,
    );
    c.apply_slice_at(slice(&[("api-2", "10.2.0.6")]), 200 * S);
    c.apply_slice_at(
        slice(&[("api-2", "10.2.0.6"), ("api-3", "10.2.0.5")]),
        300 * S,
    );
    let at = |ts| c.identity(ip("10.2.0.5"), 80, ts);
    let old = at(120 * S).unwrap();
    assert_eq!(
        (
            old.pod.as_deref(),
            old.service.as_deref(),
            old.node.as_deref(),
            old.namespace.as_deref()
        ),
        (Some("api-1"), Some("api"), Some("n2"), Some("shop"))
    );
    assert_eq!(at(199 * S).unwrap().pod.as_deref(), Some("api-1"));
    assert_eq!(at(400 * S).unwrap().pod.as_deref(), Some("api-3"));

    // Without node mode, slices name no addresses (pods are watched).
    let mut all = Cluster::new(ClusterConfig::default());
    all.apply_slice_at(slice(&[("api-1", "10.2.0.5")]), 100 * S);
    assert!(all.identity(ip("10.2.0.5"), 80, 120 * S).is_none());
}

#[test]
fn services_by_cluster_dns_name_and_external_name() {
    let mut c = Cluster::new(ClusterConfig::default());
    c.apply_service(
        Service {
            uid: "s1".into(),
            namespace: "shop".into(),
            name: "payments".into(),
            external_name: Some("api.stripe.example".into()),
            ..Service::default()
        },
        S,
    );
    let id = c.by_domain("API.stripe.example.").unwrap();
    assert_eq!(
        (id.namespace.as_deref(), id.service.as_deref()),
        (Some("shop"), Some("payments"))
    );
    let id = c.by_domain("payments.shop.svc.cluster.local").unwrap();
    assert_eq!(id.service.as_deref(), Some("payments"));
    assert!(c.by_domain("payments.other.svc.cluster.local").is_none());
    assert!(c.by_domain("example.com").is_none());
    c.delete_service("s1", 2 * S);
    assert!(c.by_domain("api.stripe.example").is_none());
}
