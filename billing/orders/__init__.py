"""Orders (products a customer asks for on the portal, at sign-up or from the cart) and, later,
the cart and tickets.  See :mod:`billing.orders.orders`."""
