// The real bot on the Discord stand-in, and ingest's publishes of job updates refused on demand (the
// counting proxy in front of moto answers them 500): for tests of the record's outbox.
import { startCountingProxy } from "./counting-proxy.ts";
import { startDiscordStandIn, type DiscordStandIn } from "./discord-standin.ts";
import type { TestStack } from "./stack.ts";

export interface NoticeRig {
  sd: DiscordStandIn;
  /** The Discord user the bot lets in; jobs name them as requester with the stand-in's channel. */
  user: string;
  refuse(on: boolean): void;
  /** Update publishes refused so far. */
  refused(): number;
  /** Stops the bot and gives the stack back its own ingest (call before the shared stack stops). */
  close(): Promise<void>;
}

export async function startNoticeRig(s: TestStack): Promise<NoticeRig> {
  const user = "200000000000000001";
  const sd = await startDiscordStandIn();
  let refusing = false;
  let refused = 0;
  // Only ingest's Publish calls to the updates topic; its requests and everything else pass.
  const updatesTopic = encodeURIComponent(s.outputs.updates_topic_arn);
  const proxy = await startCountingProxy(s.moto.endpoint, {
    refuse: (op, body) => refusing && op === "SNS.Publish" && body.includes(`TopicArn=${updatesTopic}`) && ++refused > 0,
  });
  await s.ingest.stop();
  await s.startIngestWith({ AWS_ENDPOINT_URL: proxy.url });
  // A bot another test file left running (its top-level after() runs only once every file is done, when
  // they share a process) would take some of the updates from the queue and ping elsewhere.
  await s.bot?.stop();
  const bot = await s.startBot({
    DISCORD_TOKEN: sd.token, DISCORD_APP_ID: sd.appId, DISCORD_GUILD_ID: sd.guildId, DISCORD_API_URL: sd.api,
    DISCORD_ALLOWED_USERS: user, T2S_API_URL: s.url, T2S_PUBLIC_URL: s.url, T2S_SQS_WAIT_S: "2",
  });
  await sd.waitForSession(1);
  return {
    sd, user,
    refuse: (on) => { refusing = on; },
    refused: () => refused,
    close: async () => {
      refusing = false;
      try {
        await bot.stop();
        await s.ingest.stop();
        await s.startIngest();
      } finally {
        await proxy.close();
        await sd.close();
      }
    },
  };
}
