// notifier.h: the launcher's webhook deliveries.
//
// Include after postgres.h.
#pragma once

namespace pgbak {

// ResendInterrupted makes rows a previous launcher left 'sending' pending
// again (at launcher start). Opens its own transaction.
void ResendInterrupted();

// DeliverWebhooks records finished deliveries and hands pending rows to the
// delivery thread. Opens its own transactions.
void DeliverWebhooks();

// WebhooksInFlight says whether deliveries are still under way (the launcher
// then wakes up sooner to record their outcome).
bool WebhooksInFlight();

// StopWebhooks stops the delivery thread; undelivered rows stay 'sending'
// and are sent again by the next launcher.
void StopWebhooks();

}  // namespace pgbak
