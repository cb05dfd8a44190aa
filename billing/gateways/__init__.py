"""Payment gateways behind one interface (:mod:`billing.gateways.base`).

A payment through a gateway is a *gateway transaction* (:mod:`billing.gateways.store`):
created pending with a random reference, handed to the gateway (``start``), and
settled once from whatever reports its outcome first — the gateway's signed
webhook, the customer's return page verifying with the gateway, or the
``billing.gateway_recheck`` job — crediting the billing payment exactly once
(:func:`billing.gateways.store.settle`).  :mod:`billing.gateways.test` is the
built-in test gateway (a hosted page on the daemon with Succeed / Stay pending
/ Fail buttons and HMAC-SHA256-signed webhooks); :mod:`billing.gateways.service`
wires gateways, the database and the clock together for the web pages and the job.
"""
