"""The admin console under /admin: human accounts, two-factor sign-in, the console's pages."""
