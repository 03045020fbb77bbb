"""The editors' desk: commands, feedback and spike alerts in Telegram.

    editors = Editors.parse(settings.editors)         # access: who may command
    command = parse_command("/search ТЦК #busification 7d")
    desk = Desk(settings, archive, rules, replies)     # desk: answers one incoming message
    await desk.handle(incoming)
    await run_spike_alerts(settings, archive, post)    # alerts: the loop; spikes: the pure rule

Everything here but desk.py and alerts.py is pure. Telegram is reached only through
bot/telegram/desk.py, which turns Telethon events into `Incoming` values and sends answers.
"""
