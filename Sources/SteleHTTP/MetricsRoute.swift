import Foundation
import Hummingbird
import NIOCore
import Prometheus
import SteleBroker
import SteleViews

/// `/metrics` in Prometheus' text format: the counters and latencies recorded through
/// swift-metrics (appends, fetches, HTTP requests), and, read when scraped, every partition's
/// offsets and size, every consumer group's lag and every view's lag.
struct MetricsRoute: Sendable {
    let registry: PrometheusCollectorRegistry
    let broker: Broker
    let views: ViewService
    let openResponses: EventStreams

    func register(on router: Router<SteleRequestContext>) {
        router.get("metrics") { _, _ in
            await refresh()
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
    }

    /// Sets the gauges that describe the present state from the broker and the views.
    private func refresh() async {
        registry.makeGauge(name: "stele_sse_open_subscriptions").set(Double(openResponses.count.load(ordering: .relaxed)))
        for name in broker.topicNames {
            guard let topic = broker.topic(name) else { continue }
            for (index, log) in topic.partitions.enumerated() {
                let labels = [("topic", name), ("partition", String(index))]
                registry.makeGauge(name: "stele_partition_log_start_offset", labels: labels).set(Double(log.logStartOffset))
                registry.makeGauge(name: "stele_partition_log_end_offset", labels: labels).set(Double(log.highWatermark))
                registry.makeGauge(name: "stele_partition_size_bytes", labels: labels).set(Double(log.sizeInBytes))
            }
        }
        for group in Set(await broker.groups.listGroups().map(\.groupId)) {
            for (key, committed) in await broker.groups.committed(group: group) {
                guard let topic = broker.topic(key.topic), topic.partitions.indices.contains(Int(key.partition)) else { continue }
                guard let lag = ConsumerLag.records(committed: committed.offset, logEnd: topic.partitions[Int(key.partition)].highWatermark) else { continue }
                registry.makeGauge(name: "stele_consumer_group_lag", labels: [("group", group), ("topic", key.topic), ("partition", String(key.partition))])
                    .set(Double(lag))
            }
        }
        // Mirror topics' lag, when a mirror runs in this node (`stele serve --mirror-source`); a
        // topic promoted or deleted since loses its series rather than keep a last value forever.
        if broker.mirrorLag.isReporting {
            registry.makeGauge(name: "stele_mirror_running").set(broker.mirrorLag.stopReason == nil ? 1.0 : 0.0)
        }
        for (topic, lag) in broker.mirrorLag.lag(nowMs: Date().epochMilliseconds) {
            let records = registry.makeGauge(name: "stele_mirror_lag_records", labels: [("topic", topic)])
            let seconds = registry.makeGauge(name: "stele_mirror_lag_seconds", labels: [("topic", topic)])
            guard broker.topic(topic)?.config.isActiveMirror == true else {
                registry.unregisterGauge(records)
                registry.unregisterGauge(seconds)
                broker.mirrorLag.forget(topic: topic)
                continue
            }
            records.set(Double(lag.records))
            seconds.set(lag.seconds)
        }
        for view in views.views {
            let status = await view.status()
            let labels = [("view", status.name)]
            registry.makeGauge(name: "stele_view_lag_events", labels: labels).set(Double(status.lagEvents))
            registry.makeGauge(name: "stele_view_lag_seconds", labels: labels).set(status.lagSeconds)
            registry.makeGauge(name: "stele_view_parked_events", labels: labels).set(Double(status.parked.count))
            registry.makeGauge(name: "stele_view_running", labels: labels).set(status.state == .running ? 1.0 : 0.0)
        }
    }
}
