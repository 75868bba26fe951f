// Publishing JSON messages to an SNS topic.
import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";

export type Publish = (message: object) => Promise<void>;

export function topicPublisher(sns: SNSClient, topicArn: string): Publish {
  return async (message) => {
    await sns.send(new PublishCommand({ TopicArn: topicArn, Message: JSON.stringify(message) }));
  };
}
