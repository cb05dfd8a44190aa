"""Vouchers: packages of time and data, batches of printed cards, and vouchers sold online.

A voucher is a login in the AAA view owned by the voucher (``owner_type``
``voucher``): its code is the username; its state is read from the login.
"""
