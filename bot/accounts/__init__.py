"""Several Telegram accounts serving one archive, coordinated through the database.

    assign.py       which account serves which configured chat (pure: caps, pins, balance, failover)
    leases.py       what a lease row says about its account: active, logged out, lapsed … (pure)
    coordinator.py  a Service's part: hold the account's lease, settle the assignment, elect the
                    worker that sends digests

Workers share nothing but the database: every decision is taken inside one transaction that
reads what the other workers wrote, so two workers starting together reach the same answer.
"""
