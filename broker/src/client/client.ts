import type { DescService } from "@bufbuild/protobuf";
import { type Client, Code, type Interceptor, type Transport } from "@connectrpc/connect";
import { Admin } from "./admin.js";
import { type Auth, Credentials } from "./auth.js";
import { StreamBatchSender, UnaryBatchSender } from "./batch-sender.js";
import { type ConsumerOptions, DurableConsumer } from "./consumer.js";
import { GeoBrokerError } from "./errors.js";
import { type OutgoingMessage, Producer, type ProducerOptions, type PublishResult } from "./producer.js";
import type { RetryOptions } from "./retry.js";
import { Router } from "./router.js";
import { StatusEmitter, type StatusEvent } from "./status.js";
import { type SubscribeOptions, Subscription } from "./subscriber.js";
import { type OpenTelemetryApi, Telemetry } from "./telemetry.js";

export interface ClientOptions {
  /** One or more nodes' client ports, "host:port"; the rest of the cluster is discovered from them. */
  endpoints: string | string[];
  /** This client's region: its nodes are preferred for reads and as the first hop. */
  region?: string;
  auth?: Auth;
  retry?: RetryOptions;
  /** Options of the producer behind `publish`. */
  producer?: ProducerOptions;
  /** A node that failed is tried last for this long. Default 5,000 ms. */
  nodeDownMs?: number;
  /**
   * Call only `endpoints`, never the node addresses the cluster reports: for a client behind a
   * load-balanced Service or a proxy, where those addresses cannot be reached (the web console).
   * The endpoint's node forwards to leaders. Default false.
   */
  onlyEndpoints?: boolean;
  /**
   * `@opentelemetry/api` (the module: `await import("@opentelemetry/api")`): publish and receive
   * spans, trace context carried in message headers. Left out: no tracing, and no import of it.
   */
  telemetry?: OpenTelemetryApi;
}

/** How an entry (Node, browser) builds the transport to one node, with the client's interceptors. */
export type TransportBuilder = (address: string, interceptors: Interceptor[]) => Transport;

/** What the entry's transports can do: fetch (browsers) cannot stream a request body. */
export interface TransportAbilities {
  requestStreaming: boolean;
}

/**
 * A geobroker client: discovery and routing over the whole cluster, a producer, subscriptions,
 * durable consumers, administration, and status events. Build it with `connect` from
 * `geobroker/client` (Node) or `geobroker/client/web` (browsers).
 */
export class GeoBrokerClient {
  readonly admin: Admin;
  private readonly statusEvents = new StatusEmitter();
  private readonly router: Router;
  private readonly telemetry: Telemetry | undefined;
  private defaultProducer: Producer | undefined;
  private readonly producers = new Set<Producer>();
  private readonly readers = new Set<{ close(): void | Promise<void> }>();

  constructor(
    private readonly o: ClientOptions,
    transports: TransportBuilder,
    private readonly abilities: TransportAbilities = { requestStreaming: true },
  ) {
    const credentials = new Credentials(o.auth);
    const interceptors = [credentials.interceptor()];
    const endpoints = (Array.isArray(o.endpoints) ? o.endpoints : o.endpoints.split(","))
      .map((e) => e.trim())
      .filter((e) => e.length > 0);
    this.router = new Router({
      endpoints,
      ...(o.region ? { region: o.region } : {}),
      transports: (address) => transports(address, interceptors),
      status: this.statusEvents,
      ...(o.retry ? { retry: o.retry } : {}),
      ...(o.nodeDownMs !== undefined ? { downMs: o.nodeDownMs } : {}),
      ...(o.onlyEndpoints ? { onlyEndpoints: true } : {}),
    });
    this.admin = new Admin(this.router);
    this.telemetry = o.telemetry ? new Telemetry(o.telemetry) : undefined;
  }

  /** Resolves once the cluster's nodes and leaders are known (every call also waits for it). */
  ready(signal?: AbortSignal): Promise<void> {
    return this.router.ready(signal);
  }

  /** Status events until `signal` aborts: `for await (const e of client.status())`. */
  status(signal?: AbortSignal): AsyncIterable<StatusEvent> {
    return { [Symbol.asyncIterator]: () => this.statusEvents.iterate(signal) };
  }

  /** Calls `listener` for each status event; returns the function that stops it. */
  onStatus(listener: (e: StatusEvent) => void): () => void {
    return this.statusEvents.on(listener);
  }

  /** A producer with its own batching and in-flight window. */
  producer(options: ProducerOptions = {}): Producer {
    // Without request streaming each publish is a unary call (the producer is the same).
    const sender = this.abilities.requestStreaming
      ? new StreamBatchSender(this.router)
      : new UnaryBatchSender(this.router);
    const p = new Producer(this.router, sender, options, this.telemetry);
    this.producers.add(p);
    void this.router.ready().catch(() => {});
    return p;
  }

  /** Publishes one message through the client's default producer; resolves with its offset. */
  publish(message: OutgoingMessage): Promise<PublishResult> {
    this.defaultProducer ??= this.producer(this.o.producer);
    return this.defaultProducer.send(message);
  }

  /** Waits until every message given to `publish` is settled. */
  async flush(): Promise<void> {
    await Promise.all([...this.producers].map((p) => p.flush()));
  }

  subscribe(options: SubscribeOptions): Subscription {
    const s = new Subscription(this.router, this.statusEvents, options, this.telemetry);
    this.readers.add(s);
    return s;
  }

  /** A durable consumer session (Consume is a bidirectional stream: not on the browser entry). */
  consumer(options: ConsumerOptions): DurableConsumer {
    if (!this.abilities.requestStreaming)
      throw new GeoBrokerError(
        "durable consumers need a bidirectional stream, which fetch in browsers cannot make: consume on a server, or subscribe",
        Code.Unimplemented,
      );
    const c = new DurableConsumer(this.router, options, this.telemetry);
    this.readers.add(c);
    return c;
  }

  /**
   * The generated client of any service at the best node for the client's region, for calls this
   * API does not wrap (no failover: it is the plain generated client).
   */
  async service<S extends DescService>(service: S): Promise<Client<S>> {
    await this.router.ready().catch(() => {});
    return this.router.client(service, this.router.candidates()[0]!);
  }

  /** Flushes the producers, sends the consumers' last acks, then ends every stream. */
  async close(): Promise<void> {
    await Promise.all([...this.producers].map((p) => p.close()));
    await Promise.all([...this.readers].map((r) => r.close()));
  }
}
