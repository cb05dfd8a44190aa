"""billing: the business layer (customers, catalogue, services, invoices, ledger,
payments, credit notes, dunning).  See DESIGN.md, "Billing"."""
