/**
 * What berth did with each GitHub delivery the webhook route hands to Probot: Probot's handlers say
 * whether the engine took the event (`accepted`) or not (`ignored`: not an event berth acts on, or
 * seen before). Only deliveries in flight through the route are remembered, so the map stays bounded.
 */
import type { WebhookReceiver } from "./github-webhook.js";

export class DeliveryVerdicts {
  private readonly inFlight = new Map<string, "accepted" | "ignored">();

  /** A Probot handler's outcome for delivery `id`. */
  record(id: string, accepted: boolean): void {
    if (accepted && this.inFlight.has(id)) this.inFlight.set(id, "accepted");
  }

  /** `webhooks` whose `verifyAndReceive` also says what the handlers did with the delivery. */
  receiver(webhooks: WebhookReceiver): WebhookReceiver {
    return {
      verifyAndReceive: async (delivery) => {
        this.inFlight.set(delivery.id, "ignored");
        try {
          await webhooks.verifyAndReceive(delivery);
          return this.inFlight.get(delivery.id) ?? "accepted";
        } finally {
          this.inFlight.delete(delivery.id);
        }
      },
    };
  }
}
