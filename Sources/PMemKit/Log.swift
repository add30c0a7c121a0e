import Logging

/// PMemKit's logger. Quiet by default: a program that wants the steps
/// (label initialization, MAP_SYNC fallbacks, namespace configuration)
/// bootstraps swift-log with a handler and a level, as `pmemctl` does with
/// `PMEMKIT_LOG_LEVEL=debug`.
public let pmemLog = Logger(label: "pmemkit")
