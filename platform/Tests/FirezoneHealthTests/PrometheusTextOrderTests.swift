import FirezoneHealth
import Prometheus
import Testing

struct PrometheusTextOrderTests {
    @Test func sortsFamiliesByNameAndSamplesByLineKeepingHeadersFirst() {
        let exposition = """
            # HELP zeta_total Zeta.
            # TYPE zeta_total counter
            zeta_total{kind="b"} 2
            zeta_total{kind="a"} 1
            # TYPE latency_seconds histogram
            latency_seconds_bucket{path="/b",le="5.0"} 1
            latency_seconds_bucket{path="/b",le="10.0"} 2
            latency_seconds_bucket{path="/b",le="+Inf"} 2
            latency_seconds_sum{path="/b"} 12.0
            latency_seconds_count{path="/b"} 2
            latency_seconds_bucket{path="/a",le="5.0"} 0
            latency_seconds_bucket{path="/a",le="10.0"} 0
            latency_seconds_bucket{path="/a",le="+Inf"} 1
            latency_seconds_sum{path="/a"} 20.0
            latency_seconds_count{path="/a"} 1
            # HELP alpha Alpha.
            # TYPE alpha gauge
            alpha 3

            """

        // A histogram's lines of one label set stay in bucket order: the format requires increasing `le`.
        #expect(
            PrometheusTextOrder.canonical(exposition) == """
                # HELP alpha Alpha.
                # TYPE alpha gauge
                alpha 3
                # TYPE latency_seconds histogram
                latency_seconds_bucket{path="/a",le="5.0"} 0
                latency_seconds_bucket{path="/a",le="10.0"} 0
                latency_seconds_bucket{path="/a",le="+Inf"} 1
                latency_seconds_sum{path="/a"} 20.0
                latency_seconds_count{path="/a"} 1
                latency_seconds_bucket{path="/b",le="5.0"} 1
                latency_seconds_bucket{path="/b",le="10.0"} 2
                latency_seconds_bucket{path="/b",le="+Inf"} 2
                latency_seconds_sum{path="/b"} 12.0
                latency_seconds_count{path="/b"} 2
                # HELP zeta_total Zeta.
                # TYPE zeta_total counter
                zeta_total{kind="a"} 1
                zeta_total{kind="b"} 2

                """
        )
    }

    @Test func keepsLinesThatFitNoFamily() {
        let exposition = """
            # a comment
            beta_total{x="1"} 4
            orphan_total 5

            # TYPE beta_total counter
            # HELP beta_total Beta.
            """

        // The sample before its header joins it; the headerless sample is a family of its own; the rest come last.
        #expect(
            PrometheusTextOrder.canonical(exposition) == """
                # HELP beta_total Beta.
                # TYPE beta_total counter
                beta_total{x="1"} 4
                orphan_total 5

                # a comment
                """
        )
    }

    @Test(arguments: [
        "",
        "\n",
        "only_sample 1",
        "b 1\na 2\n\n\n# TYPE a gauge\n# TYPE a gauge\nb 1\n",
        "# HELP\n# TYPE \n#\n \nx{le=\"1\"} 1\nx_count 1\n# TYPE x histogram\nx_sum 2\nx_count 1\nx_count 1\n",
        "# TYPE h summary\nh{quantile=\"0.5\"} 1\nh_sum 1\nh_count 1\nh{quantile=\"0.5\"} 2\nh_count 2\r\nh_bucket 3",
    ])
    func keepsEveryLineExactlyOnce(exposition: String) {
        let canonical = PrometheusTextOrder.canonical(exposition)

        #expect(Self.sortedLines(canonical) == Self.sortedLines(exposition))
        #expect(canonical.utf8.count == exposition.utf8.count)
        #expect(PrometheusTextOrder.canonical(canonical) == canonical)
    }

    @Test func registriesFilledInOppositeOrdersEmitTheSameCanonicalText() {
        let forward = Self.registry(registeringInReverse: false)
        let reverse = Self.registry(registeringInReverse: true)

        let forwardText = PrometheusTextOrder.canonical(forward.emitToString())
        let reverseText = PrometheusTextOrder.canonical(reverse.emitToString())

        #expect(forwardText == reverseText)
        #expect(
            forwardText == """
                # HELP relay_dropped_packets_total Packets dropped.
                # TYPE relay_dropped_packets_total counter
                relay_dropped_packets_total{reason="no_allocation"} 3
                relay_dropped_packets_total{reason="no_channel"} 1
                # HELP relay_packet_size_bytes Relayed packet sizes.
                # TYPE relay_packet_size_bytes histogram
                relay_packet_size_bytes_bucket{datapath="userspace",le="100.0"} 1
                relay_packet_size_bytes_bucket{datapath="userspace",le="1000.0"} 2
                relay_packet_size_bytes_bucket{datapath="userspace",le="+Inf"} 2
                relay_packet_size_bytes_sum{datapath="userspace"} 560.0
                relay_packet_size_bytes_count{datapath="userspace"} 2
                relay_packet_size_bytes_bucket{datapath="xdp",le="100.0"} 0
                relay_packet_size_bytes_bucket{datapath="xdp",le="1000.0"} 0
                relay_packet_size_bytes_bucket{datapath="xdp",le="+Inf"} 1
                relay_packet_size_bytes_sum{datapath="xdp"} 1400.0
                relay_packet_size_bytes_count{datapath="xdp"} 1
                # HELP relay_relayed_bytes_total Bytes relayed.
                # TYPE relay_relayed_bytes_total counter
                relay_relayed_bytes_total{datapath="userspace"} 1200
                relay_relayed_bytes_total{datapath="xdp"} 3400
                # HELP relay_responses_total TURN responses.
                # TYPE relay_responses_total counter
                relay_responses_total{method="allocate",code="200"} 5
                relay_responses_total{method="allocate",code="401"} 2
                relay_responses_total{method="binding",code="200"} 7

                """
        )
    }

    private static func sortedLines(_ text: String) -> [String] {
        text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// The same metrics and values, registered front to back or back to front.
    private static func registry(registeringInReverse reverse: Bool) -> PrometheusCollectorRegistry {
        let counters: [(name: String, help: String, labels: [(String, String)], value: Int64)] = [
            ("relay_responses", "TURN responses.", [("method", "allocate"), ("code", "200")], 5),
            ("relay_responses", "TURN responses.", [("method", "allocate"), ("code", "401")], 2),
            ("relay_responses", "TURN responses.", [("method", "binding"), ("code", "200")], 7),
            ("relay_dropped_packets", "Packets dropped.", [("reason", "no_channel")], 1),
            ("relay_dropped_packets", "Packets dropped.", [("reason", "no_allocation")], 3),
            ("relay_relayed_bytes", "Bytes relayed.", [("datapath", "userspace")], 1200),
            ("relay_relayed_bytes", "Bytes relayed.", [("datapath", "xdp")], 3400),
        ]
        let histograms: [(datapath: String, values: [Double])] = [("userspace", [60, 500]), ("xdp", [1400])]

        let registry = PrometheusCollectorRegistry()
        for counter in reverse ? counters.reversed() : counters {
            let descriptor = MetricNameDescriptor(metricName: counter.name, unitName: "total", helpText: counter.help)
            registry.makeCounter(descriptor: descriptor, labels: counter.labels).increment(by: counter.value)
        }
        for histogram in reverse ? histograms.reversed() : histograms {
            let descriptor = MetricNameDescriptor(
                metricName: "relay_packet_size",
                unitName: "bytes",
                helpText: "Relayed packet sizes."
            )
            let instrument = registry.makeValueHistogram(
                descriptor: descriptor,
                labels: [("datapath", histogram.datapath)],
                buckets: [100, 1000]
            )
            for value in histogram.values {
                instrument.record(value)
            }
        }
        return registry
    }
}
