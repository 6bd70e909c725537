import Metrics
import NIOConcurrencyHelpers
import Prometheus

/// swift-metrics, exported through swift-prometheus at `/metrics`. The metrics system is
/// process-global, so it is bootstrapped once, whatever number of servers a process runs.
enum ChatMetrics {
    static let registry = PrometheusCollectorRegistry()
    private static let bootstrapped = NIOLockedValueBox(false)

    static func bootstrap() {
        bootstrapped.withLockedValue { done in
            guard !done else { return }
            done = true
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        }
    }
}
