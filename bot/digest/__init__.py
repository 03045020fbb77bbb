"""The digest: which period is due (schedule), what it says (compose), getting it posted (sender).

    parts = compose(period, hits, previous, titles={"szch": "СЗЧ"}, tz=settings.digest_tz)
    await run_digests(settings, archive, client, ready=caught_up)   # the service's scheduler task

schedule and compose are pure; sender is the only module here that waits or talks to Telegram
(through bot/telegram/publish.py).
"""
