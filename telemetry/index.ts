/** Telemetry shared by the registry and the gateway: hot-path metrics, exposition parsing and logs. */
export { HotCounter, HotCounterFamily, HotHistogram, HotHistogramFamily } from './hot-metrics.js';
export { ExpositionParseError, parseExposition, sumSamples, type MetricSample } from './exposition.js';
export { createLogger, infoLineWriter, LOG_LEVELS, LOGGER_DEFAULTS, MAX_PENDING_LOG_BYTES, REDACTED_PATHS, type LoggerOptions } from './logger.js';
