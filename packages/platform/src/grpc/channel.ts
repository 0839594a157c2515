import type * as grpc from "@grpc/grpc-js";

/**
 * Channel options every Mercato gRPC client uses: round-robin over every address a `dns:///` target
 * resolves to, keepalive on busy channels, and a short reconnect backoff. grpc-js's default backoff
 * grows to 120 s, so an upstream that restarts a few times in a row would stay unreachable for
 * minutes after it is back (seen in the checkout fault test); 2 s at most keeps a restarted upstream
 * reachable within a couple of seconds.
 */
export const defaultChannelOptions: grpc.ChannelOptions = {
  "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.min_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 2_000,
  "grpc.keepalive_time_ms": 30_000,
  "grpc.keepalive_timeout_ms": 10_000,
};
