import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  ClusterService,
  type GetClusterInfoResponse,
  type GetClusterMetricsResponse,
} from "../../../gen/geobroker/v1/cluster_pb.js";
import type { RetentionPolicySchema } from "../../../gen/geobroker/v1/common_pb.js";
import { type ConsumerInfo, ConsumeService } from "../../../gen/geobroker/v1/consume_pb.js";
import { type Topic, type TopicSchema, TopicService } from "../../../gen/geobroker/v1/topic_pb.js";
import { type UserInfo, UserService } from "../../../gen/geobroker/v1/users_pb.js";
import { type ConsumerSettings, consumerConfig } from "./consumer.js";
import type { Router } from "./router.js";

/**
 * Topics, durable consumers, users and grants, and the cluster's state. Reads are retried at the
 * next node on any transient failure; changes only when the broker says it did not act (retry-safe).
 */
export class Admin {
  constructor(private readonly router: Router) {}

  private read<T>(fn: (address: string, signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
    return this.router.call(fn, { idempotent: true });
  }

  private change<T>(fn: (address: string, signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
    return this.router.call(fn, { idempotent: false });
  }

  clusterInfo(): Promise<GetClusterInfoResponse> {
    return this.read(async (a, signal) => {
      const info = await this.router.client(ClusterService, a).getClusterInfo({}, { signal });
      this.router.apply(info);
      return info;
    });
  }

  /** Every node's own counters and latency histograms (or only `nodeIds`), and the nodes that did not answer. */
  clusterMetrics(nodeIds: string[] = []): Promise<GetClusterMetricsResponse> {
    return this.read((a, signal) =>
      this.router.client(ClusterService, a).getClusterMetrics({ nodeIds }, { signal }),
    );
  }

  async listTopics(): Promise<Topic[]> {
    return (await this.read((a, signal) => this.router.client(TopicService, a).listTopics({}, { signal })))
      .topics;
  }

  async getTopic(name: string): Promise<Topic | undefined> {
    return (
      await this.read((a, signal) => this.router.client(TopicService, a).getTopic({ name }, { signal }))
    ).topic;
  }

  async createTopic(
    topic: MessageInitShape<typeof TopicSchema> & { name: string },
  ): Promise<Topic | undefined> {
    return (
      await this.change((a, signal) => this.router.client(TopicService, a).createTopic({ topic }, { signal }))
    ).topic;
  }

  /** New retention and/or home region (`homeRegion: ""` clears it; left out: unchanged). */
  async updateTopic(
    name: string,
    change: { retention?: MessageInitShape<typeof RetentionPolicySchema>; homeRegion?: string },
  ): Promise<Topic | undefined> {
    return (
      await this.change((a, signal) =>
        this.router.client(TopicService, a).updateTopic({ name, ...change }, { signal }),
      )
    ).topic;
  }

  async deleteTopic(name: string): Promise<void> {
    await this.change((a, signal) => this.router.client(TopicService, a).deleteTopic({ name }, { signal }));
  }

  async listConsumers(topic = ""): Promise<ConsumerInfo[]> {
    return (
      await this.read((a, signal) =>
        this.router.client(ConsumeService, a).listConsumers({ topic }, { signal }),
      )
    ).consumers;
  }

  async getConsumer(topic: string, name: string): Promise<ConsumerInfo | undefined> {
    return (
      await this.read((a, signal) =>
        this.router.client(ConsumeService, a).getConsumer({ topic, name }, { signal }),
      )
    ).consumer;
  }

  /** Creates a durable consumer (ALREADY_EXISTS when one by that name differs). */
  async createConsumer(settings: ConsumerSettings): Promise<ConsumerInfo | undefined> {
    const config = consumerConfig(settings);
    return (
      await this.change((a, signal) =>
        this.router.client(ConsumeService, a).createConsumer({ config }, { signal }),
      )
    ).consumer;
  }

  async deleteConsumer(topic: string, name: string): Promise<void> {
    await this.change((a, signal) =>
      this.router.client(ConsumeService, a).deleteConsumer({ topic, name }, { signal }),
    );
  }

  async listUsers(): Promise<UserInfo[]> {
    return (await this.read((a, signal) => this.router.client(UserService, a).listUsers({}, { signal })))
      .users;
  }

  /** `passwordHash` is an scrypt hash (`geobroker hash-password`): passwords never travel. */
  async createUser(name: string, passwordHash: string): Promise<void> {
    await this.change((a, signal) =>
      this.router.client(UserService, a).createUser({ name, passwordHash }, { signal }),
    );
  }

  async updateUser(name: string, passwordHash: string): Promise<void> {
    await this.change((a, signal) =>
      this.router.client(UserService, a).updateUser({ name, passwordHash }, { signal }),
    );
  }

  async deleteUser(name: string): Promise<void> {
    await this.change((a, signal) => this.router.client(UserService, a).deleteUser({ name }, { signal }));
  }

  /** The roles granted to a name (replacing what it had); an empty list removes every grant. */
  async setGrants(name: string, roles: string[]): Promise<void> {
    await this.change((a, signal) =>
      this.router.client(UserService, a).setGrants({ name, roles }, { signal }),
    );
  }
}
