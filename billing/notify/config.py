"""The ``[notify]`` config section (per-org channels, templates, rules and quiet hours live in
the database: ``aaad notify ...`` and the API)."""
from __future__ import annotations

from dataclasses import dataclass

from aaad.config import non_negative, positive, setting, wall_time


@dataclass(frozen=True)
class NotifyConfig:
    """Email, SMS and WhatsApp messages: the outbox sender, retries, reminders and one-time codes."""
    enabled: bool = setting(True, "Decide messages on events (welcome, invoice, payment, service changes, data "
                                  "caps) and send the outbox. Off: nothing new is decided and nothing is sent "
                                  "(messages already queued wait).")
    poll_interval: float = setting(5.0, "Seconds between looks for due messages (quiet hours ending, retries, "
                                        "rows queued by another process); messages decided here are sent "
                                        "at once.", positive)
    batch: int = setting(200, "Messages taken off the outbox at once (rendered and sent concurrently).",
                         positive)
    per_channel: int = setting(8, "Messages in flight at once per channel (SMTP connections, HTTP requests to "
                                  "the SMS gateway): a slow gateway delays only its own channel.", positive)
    max_rate: float = setting(50.0, "Messages handed to providers per second at most, all channels together (a "
                                    "reminder pass's thousands are spread out so RADIUS keeps its latency: each "
                                    "message costs the daemon a few ms; urgent ones, codes and receipts, go first); "
                                    "0: no limit.", non_negative)
    max_attempts: int = setting(8, "Attempts before a message is given up and shown as failed (retryable "
                                   "errors only: a refused address or bad credentials fail at once).", positive)
    retry_backoff: float = setting(30.0, "Seconds before the first retry; each retry waits twice as long as "
                                         "the one before.", positive)
    retry_backoff_max: float = setting(3600.0, "The longest wait between two attempts, in seconds.", positive)
    http_timeout: float = setting(15.0, "Timeout, in seconds, of a call to an SMS or WhatsApp gateway.",
                                  positive)
    reminder_interval: int = setting(300, "Seconds between reminder passes per org: due-date reminders go out "
                                          "at the first pass after the org's reminders_at local time, an expiry "
                                          "warning at most this long after its rule's lead time is reached.",
                                     positive)
    reminder_catch_up_days: int = setting(3, "Days back that due-date reminders missed while the daemon was down "
                                             "at reminders_at are still sent, late, at the next pass (their "
                                             "wording counts from the day they go out); older missed days are "
                                             "skipped with a warning. 0: only today's.", non_negative)
    otp_minutes: int = setting(10, "Minutes a one-time code works.", positive)
    otp_attempts: int = setting(5, "Wrong tries after which a one-time code is dead.", positive)
    otp_resend_seconds: int = setting(60, "Seconds before another code may be sent to the same number.",
                                      non_negative)
    otp_per_hour: int = setting(5, "Codes per number per hour at most.", positive)
    balance_at: str = setting("08:00", "Local time of the daily SMS-balance check (generic gateways with a "
                                       "balance_url; alert below the org's sms_balance_threshold, else the "
                                       "gateway's balance_threshold).", wall_time)
    keep_days: float = setting(180, "Days finished messages are kept (their dedupe keys with them: keep this "
                                    "longer than any reminder rule's offset).", non_negative)
