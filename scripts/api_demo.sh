#!/usr/bin/env bash
# The admin API in one curl session (the README's example; tests/e2e/test_api_e2e.py runs it):
# create a token, add a customer with a service, record a payment, download the invoice PDF.
#   AAAD  how to run aaad (default: aaad)      API  the API's URL (default: http://127.0.0.1:8080/api/v1)
#   OUT   where the invoice PDF goes (default: invoice.pdf)
set -euo pipefail
AAAD=${AAAD:-aaad}
API=${API:-http://127.0.0.1:8080/api/v1}
OUT=${OUT:-invoice.pdf}

# A token of the demo org (printed once; keep it safe).
TOKEN=$($AAAD token create --org demo --name demo-script --json | jq -r .token)
api() { curl -sS --fail-with-body -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" "$@"; }

# A customer...
CUSTOMER=$(api -X POST "$API/customers" -H "Idempotency-Key: demo-customer-$$" \
  -d '{"name": "Adwoa Mensah"}' | jq -r .id)
echo "customer $CUSTOMER"

# ...with an internet service of the Home 10M product, active from today (its first invoice is issued).
PRODUCT=$(api "$API/products" | jq -r '.items[] | select(.name == "Home 10M") | .id')
SERVICE=$(api -X POST "$API/services" -H "Idempotency-Key: demo-service-$$" \
  -d "{\"customer_id\": $CUSTOMER, \"product_id\": $PRODUCT, \"start\": \"$(date -u +%F)\"}" | jq -r .id)
echo "service $SERVICE"

# A cash payment of 40.25 (money is in minor units): it settles the open invoice, any rest is credit.
PAYMENT=$(api -X POST "$API/payments" -H "Idempotency-Key: demo-payment-$$" \
  -d "{\"customer_id\": $CUSTOMER, \"amount\": 4025, \"method\": \"cash\", \"reference\": \"demo-$$\"}" \
  | jq -r .id)
echo "payment $PAYMENT"

# The customer's invoice as a PDF.
INVOICE=$(api "$API/invoices?customer_id=$CUSTOMER" | jq -r '.items[0].id')
api "$API/invoices/$INVOICE.pdf" -o "$OUT"
echo "invoice $INVOICE saved to $OUT"
