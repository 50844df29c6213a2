import type { ServiceImpl } from "@connectrpc/connect";
import type { TopicService } from "../../../gen/geobroker/v1/topic_pb.js";
import type { BrokerEngine } from "../engine/engine.js";
import { invalidArgument } from "../engine/errors.js";
import { retentionFromWire, servedBy, topicToWire } from "../wire/convert.js";
import { checkTopicName } from "../wire/validate.js";
import { callContext } from "./call-context.js";

const maxPartitions = 1024;
const maxReplicationFactor = 7;

export function topicService(engine: BrokerEngine): ServiceImpl<typeof TopicService> {
  return {
    async createTopic(req, ctx) {
      const t = req.topic;
      if (!t) throw invalidArgument("topic is required");
      checkTopicName(t.name);
      if (t.partitions > maxPartitions) {
        throw invalidArgument(`partitions ${t.partitions} is above the limit of ${maxPartitions}`);
      }
      if (t.replicationFactor > maxReplicationFactor) {
        throw invalidArgument(
          `replication_factor ${t.replicationFactor} is above the limit of ${maxReplicationFactor}`,
        );
      }
      const retention = retentionFromWire(t.retention);
      const created = await engine.createTopic(
        {
          name: t.name,
          ...(t.partitions > 0 ? { partitions: t.partitions } : {}),
          ...(t.replicationFactor > 0 ? { replicationFactor: t.replicationFactor } : {}),
          ...(retention ? { retention } : {}),
          homeRegion: t.homeRegion,
        },
        callContext(ctx),
      );
      return { topic: topicToWire(created), servedBy: servedBy(engine.identity) };
    },

    async deleteTopic(req, ctx) {
      checkTopicName(req.name);
      await engine.deleteTopic(req.name, callContext(ctx));
      return { servedBy: servedBy(engine.identity) };
    },

    async getTopic(req) {
      checkTopicName(req.name);
      return { topic: topicToWire(await engine.getTopic(req.name)), servedBy: servedBy(engine.identity) };
    },

    async listTopics(req) {
      const topics = await engine.listTopics(req.prefix);
      return { topics: topics.map(topicToWire), servedBy: servedBy(engine.identity) };
    },

    async updateTopic(req, ctx) {
      checkTopicName(req.name);
      const retention = retentionFromWire(req.retention);
      const updated = await engine.updateTopic(
        req.name,
        {
          ...(retention ? { retention } : {}),
          ...(req.homeRegion !== undefined ? { homeRegion: req.homeRegion } : {}),
        },
        callContext(ctx),
      );
      return { topic: topicToWire(updated), servedBy: servedBy(engine.identity) };
    },
  };
}
