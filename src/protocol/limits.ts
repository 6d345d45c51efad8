/**
 * OAP/1 numeric limits. Every size is in bytes; every string limit counts UTF-8 bytes,
 * so that an implementation in any language measures the same thing.
 */

/** The protocol version carried in every header (`ver`). */
export const PROTOCOL_VERSION = 1;
/** Fixed header length in bytes. */
export const HEADER_SIZE = 38;
/** Ceiling of a frame's declared `len` (header + capability + body); checked first. */
export const MAX_FRAME = 1_048_576;
/** Most body bytes one frame carries; bigger bodies travel as a chunked stream. */
export const CHUNK_SIZE = 65_536;
/** Largest capability (`cap_len` is a u16). */
export const MAX_CAP = 65_535;
/** Largest reassembled message body (17 chunks): room for a maximal payload and its envelope. */
export const MAX_BODY = MAX_FRAME + CHUNK_SIZE;
/** Largest message payload. */
export const MAX_PAYLOAD = MAX_FRAME - 1024;
/** Most items in SEND_BATCH / ACK_BATCH, and most messages one RECV may ask for. */
export const MAX_BATCH = 1000;
export const MAX_MESSAGES = 1000;
/** Most entries one DLQ_LIST returns. */
export const MAX_DLQ_LIST = 1000;
/** Most credit a SUBSCRIBE `prefetch` or a CREDIT `n` grants at once. */
export const MAX_CREDIT = 1000;
/** The largest signed 32-bit integer: the ceiling of counts and sizes the wire carries as ints. */
export const MAX_INT31 = 2_147_483_647;
/** Durations (`delayMs`, `visibilityMs`, `waitMs`, `ms`) are at most this (≈ 24.8 days). */
export const MAX_DURATION_MS = MAX_INT31;

export const MAX_TOPIC_BYTES = 256;
export const MAX_IDEM_KEY_BYTES = 128;
export const MAX_ATTRS = 32;
export const MAX_ATTR_KEY_BYTES = 64;
export const MAX_ATTR_VALUE_BYTES = 1024;
export const MAX_LEASE_ID_BYTES = 64;
export const MAX_SUBSCRIPTION_ID_BYTES = 64;
export const MAX_CLIENT_BYTES = 128;
export const MAX_REASON_BYTES = 256;
export const MAX_ERROR_MESSAGE_BYTES = 4096;
export const MAX_FEATURES = 32;
export const MAX_FEATURE_BYTES = 64;
export const MAX_VERSIONS = 16;
/** Deepest nesting of arrays/maps a body may have. */
export const MAX_DEPTH = 16;
/** Most entries of any one msgpack map in a body. */
export const MAX_MAP_ENTRIES = 64;
