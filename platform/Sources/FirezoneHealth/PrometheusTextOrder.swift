/// Puts Prometheus text exposition into one canonical order, so that equal metrics always read the same.
///
/// swift-prometheus's `PrometheusCollectorRegistry.emit(into:)` walks a `Dictionary` of families and, in a labelled
/// family, a `Dictionary` of label sets, so its order changes with each process's hash seed, and no `Dictionary`
/// order may reach output. The canonical order:
///
/// - families (`# HELP` and `# TYPE` lines with their samples) by metric name;
/// - in a family, its `# HELP` lines, then its `# TYPE` lines, then its samples, each sorted by the line's bytes;
/// - in a histogram or summary family, the lines of one label set stay together and in the order they came, ending
///   at its `_count` line, because the text format requires buckets in increasing `le` order (and a byte sort would
///   put `le="+Inf"` first); these groups are sorted by their lines.
///
/// Nothing is dropped or repeated: every input line is in the output exactly once. A sample whose family has no
/// header forms a family of its own name; lines that are neither samples nor headers (other comments, blank lines)
/// come last, sorted.
public enum PrometheusTextOrder {
    private static let newline = UInt8(ascii: "\n")

    /// The exposition in canonical order; a trailing line feed is kept if there was one.
    public static func canonical(_ exposition: String) -> String {
        guard !exposition.isEmpty else {
            return exposition
        }
        var lines = exposition.utf8.split(separator: Self.newline, omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
        // The piece after a final line feed is not a line.
        let endsWithNewline = exposition.utf8.last == Self.newline
        if endsWithNewline {
            lines.removeLast()
        }

        // Keyed by name for lookup only; the output walks the names sorted.
        var families: [String: Family] = [:]
        var samples: [(name: String, line: String)] = []
        var others: [String] = []
        for line in lines {
            switch Line(line) {
            case .help(let name):
                families[name, default: Family()].help.append(line)
            case .type(let name, let type):
                families[name, default: Family()].type.append(line)
                if type == "histogram" || type == "summary" {
                    families[name, default: Family()].groupsBySeries = true
                }
            case .sample(let name):
                samples.append((name, line))
            case .other:
                others.append(line)
            }
        }
        // Samples are placed once every header is known, so a sample before its header still finds its family.
        for (name, line) in samples {
            families[Self.family(ofSample: name, in: families), default: Family()].samples.append(line)
        }

        var output: [String] = []
        output.reserveCapacity(lines.count)
        for (name, family) in families.sorted(by: { Self.precedes($0.key, $1.key) }) {
            output += family.help.sorted(by: Self.precedes)
            output += family.type.sorted(by: Self.precedes)
            let series = family.series(named: name).sorted { $0.lexicographicallyPrecedes($1, by: Self.precedes) }
            output += series.joined()
        }
        output += others.sorted(by: Self.precedes)
        return output.joined(separator: "\n") + (endsWithNewline ? "\n" : "")
    }

    /// The family a sample belongs to: its own name, or for a histogram's or summary's `_bucket`, `_sum` and
    /// `_count` samples, the name without that suffix.
    private static func family(ofSample name: String, in families: [String: Family]) -> String {
        if families[name] != nil {
            return name
        }
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if families[base]?.groupsBySeries == true {
                return base
            }
        }
        return name
    }

    /// Byte order of the UTF-8 text: the same in every locale and on every platform.
    private static func precedes(_ lhs: String, _ rhs: String) -> Bool {
        lhs.utf8.lexicographicallyPrecedes(rhs.utf8)
    }

    private struct Family {
        var help: [String] = []
        var type: [String] = []
        /// Histograms and summaries: the lines of one label set are one unit.
        var groupsBySeries = false
        var samples: [String] = []

        /// The samples in units that are sorted as a whole: one line each, or a histogram's or summary's lines up
        /// to and including each `_count` line.
        func series(named name: String) -> [[String]] {
            guard self.groupsBySeries else {
                return self.samples.map { [$0] }
            }
            let countName = name + "_count"
            var result: [[String]] = []
            var current: [String] = []
            for line in self.samples {
                current.append(line)
                if case .sample(countName) = Line(line) {
                    result.append(current)
                    current = []
                }
            }
            if !current.isEmpty {
                result.append(current)
            }
            return result
        }
    }

    /// What one line of the text format is, as far as ordering needs to know.
    private enum Line {
        case help(family: String)
        case type(family: String, type: Substring)
        case sample(name: String)
        case other

        init(_ line: String) {
            if let rest = line.dropPrefix("# HELP ") {
                let name = rest.prefix { $0 != " " }
                self = name.isEmpty ? .other : .help(family: String(name))
            } else if let rest = line.dropPrefix("# TYPE ") {
                let name = rest.prefix { $0 != " " }
                let type = rest.dropFirst(name.count).drop { $0 == " " }
                self = name.isEmpty ? .other : .type(family: String(name), type: type)
            } else if line.hasPrefix("#") || line.allSatisfy({ $0 == " " || $0 == "\t" }) {
                self = .other
            } else {
                // The text format: metric_name [ "{" labels "}" ] value [ timestamp ].
                self = .sample(name: String(line.prefix { $0 != "{" && $0 != " " && $0 != "\t" }))
            }
        }
    }
}

extension String {
    fileprivate func dropPrefix(_ prefix: String) -> Substring? {
        self.hasPrefix(prefix) ? self.dropFirst(prefix.count) : nil
    }
}
