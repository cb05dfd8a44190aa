#!/usr/bin/env bash
# Start the demo daemon in the background (once), wait for it, print what to try.
set -euo pipefail
AAAD=$1 CONF=$2 DIR=$3
PIDFILE=$DIR/aaad.pid LOG=$DIR/aaad.log READY=$DIR/ready.json
if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  echo "aaad is already running (pid $(cat "$PIDFILE")); 'make stop' stops it."
else
  rm -f "$READY"
  nohup "$AAAD" -c "$CONF" serve >>"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 300); do
    [ -s "$READY" ] && break
    kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { echo "aaad failed to start; see $LOG:"; tail -n 20 "$LOG"; exit 1; }
    sleep 0.1
  done
  [ -s "$READY" ] || { echo "aaad did not become ready; see $LOG"; exit 1; }
fi
# The demo's admin API token: created once (only its hash is stored), kept in $DIR/api-token for this demo.
TOKEN_FILE=$DIR/api-token
if [ ! -s "$TOKEN_FILE" ]; then
  ( umask 077; "$AAAD" -c "$CONF" token create --org demo --name "make run demo" --json \
      | python3 -c "import json,sys; print(json.load(sys.stdin)['token'])" > "$TOKEN_FILE.tmp" ) && mv "$TOKEN_FILE.tmp" "$TOKEN_FILE"
fi
read -r WEB AUTH ACCT < <(python3 -c "import json,sys; d=json.load(open('$READY')); print(d['web'], d['auth'], d['acct'])")
# The short `aaad` when the one on the PATH is make run's wrapper for this config, else the long form.
CLI="$AAAD -c $CONF"
if grep -qsF "$(realpath "$CONF")" "$(command -v aaad || true)"; then CLI=aaad; fi
cat <<MSG

aaad is running (pid $(cat "$PIDFILE")): RADIUS auth on 127.0.0.1:$AUTH, accounting on :$ACCT, web on 127.0.0.1:$WEB
Log: $LOG    Config: $CONF    Stop: make stop

Demo org "demo", NAS 127.0.0.1 with secret testing123 (Message-Authenticator required), users:
  alice/alice-pass (10M)  bob/bob-pass (50M, fixed IP, 1 session)  carol/carol-pass (hotspot, 1h from first use)
  dave (disabled)  erin (suspended, walled garden)  frank (suspended, reject)  grace (100 MB cap)  henry (expired)

Try:
  radtest -t pap alice alice-pass 127.0.0.1:$AUTH 0 testing123
  radtest -t mschap bob bob-pass 127.0.0.1:$AUTH 0 testing123
  printf 'User-Name = erin\nUser-Password = erin-pass\nMessage-Authenticator = 0x00\n' | radclient -x 127.0.0.1:$AUTH auth testing123
  printf 'User-Name = dave\nUser-Password = dave-pass\nMessage-Authenticator = 0x00\n' | radclient -x 127.0.0.1:$AUTH auth testing123
  printf 'Acct-Status-Type = Start\nUser-Name = alice\nAcct-Session-Id = demo1\nNAS-IP-Address = 127.0.0.1\n' | radclient -x 127.0.0.1:$ACCT acct testing123
  $CLI sessions
  $CLI user add zoe --password zoe-pass --profile home-10M     # live in the daemon within a second
  radtest -t pap zoe zoe-pass 127.0.0.1:$AUTH 0 testing123
  $CLI status                                                   # counters from /metrics
  curl -s http://127.0.0.1:$WEB/healthz
  curl -s http://127.0.0.1:$WEB/api/v1/

Enforcement (a change reaches the router now: Disconnect/CoA to the NAS's CoA port; the demo has no
router on 127.0.0.1:3799, so these end in "timeout" after 8 s: point a real one with 'nas set'):
  $CLI user suspend alice --reason try                          # alice's open session (demo1): Disconnect queued and sent
  $CLI actions                                                  # what was sent, how the router answered
  $CLI disconnect alice                                         # on demand (after 'user enable alice' and a new Start)
  $CLI user enable alice
  $CLI profile list                                             # home-50M: FUP tiers 200G:10M, 400G:2M, free 00-06
  $CLI nas provision loopback --dry-run --radius-address 127.0.0.1   # the RouterOS commands that ready a router
  $CLI nas set loopback --coa-port 3799 --api-username admin --api-password secret   # a router's API access

Billing (the demo ISP: six weeks of invoices, payments, a plan change, a closed customer, one suspension):
  $CLI customer list
  $CLI invoice list
  $CLI customer show yaw@example.com                            # unpaid past grace: suspended
  printf 'User-Name = yaw\nUser-Password = yaw-pass\nMessage-Authenticator = 0x00\n' | radclient -x 127.0.0.1:$AUTH auth testing123
  $CLI payment add yaw@example.com 28.75 --method cash --reference try-1   # clears the arrears: resumed at once
  radtest -t pap yaw yaw-pass 127.0.0.1:$AUTH 0 testing123      # back at 10M
  $CLI invoice pdf INV-000001 -o /tmp/INV-000001.pdf
  $CLI timeline ama@example.com
  $CLI report debtors
  $CLI report revenue
  $CLI service list --state pending
  $CLI service approve 7 --start $(date +%F)                    # esi's pending service: active, first invoice
  $CLI billing check                                            # the books balance
  $CLI billing settings

Self-service (sign-up with approval, coverage, the contract, orders and tickets):
  $CLI registration list                                        # the sign-up waiting for approval
  $CLI registration approve 1 --start $(date +%F)               # customer, service and login at once (default product)
  $CLI coverage list                                            # zones: Central (areas, postcodes SP1*), Hillside (polygon)
  $CLI coverage check --postcode 'SP1 4AB'                      # the zones there and the products sold there
  $CLI coverage check --at 5.62,-0.18                           # inside Hillside's polygon
  $CLI contract list                                            # the version customers sign
  $CLI billing shop                                             # checkout: by gateway or as a request
  curl -s -H "Authorization: Bearer \$(cat $TOKEN_FILE)" 'http://127.0.0.1:$WEB/api/v1/orders?limit=3'
  curl -s -H "Authorization: Bearer \$(cat $TOKEN_FILE)" 'http://127.0.0.1:$WEB/api/v1/tickets?limit=3'

Notifications (the demo writes email and SMS as files to $DIR/outbox instead of sending them):
  ls $DIR/outbox                                                # .eml files (open one in a mail client) and SMS .txt
  $CLI notify list                                              # every message: kind, channel, recipient, state
  $CLI notify show 1                                            # its text as sent (secrets masked)
  $CLI notify template preview invoice.due_reminder sms         # GH₵/€ make it UCS-2: see the SMS count
  $CLI notify rule list                                         # due-date reminders and the expiry warning
  $CLI notify route                                             # which channels each kind goes out on
  $CLI notify settings --quiet 21:00-07:00                      # non-urgent messages wait for the morning
  $CLI notify test --channel sms --to +12025550101              # a message now, through the channel's provider

Vouchers and the hotspot (packages, a batch of 20 cards, the free trial, the router's login pages):
  $CLI voucher package list                                     # 1 hour (code-only), 1 day, Week pass (2 devices)
  $CLI voucher batch list
  $CLI voucher batch export 1 --pdf /tmp/cards.pdf --csv /tmp/cards.csv   # printable cards with QR codes
  CODE=\$($CLI voucher list --batch 1 --state unused --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["code"])')
  printf 'User-Name = %s\nUser-Password = %s\nMessage-Authenticator = 0x00\n' \$CODE \$CODE | radclient -x 127.0.0.1:$AUTH auth testing123
  $CLI voucher show \$CODE                                       # active since that first use, 1 h online in total
  $CLI voucher package add 'Cafe 30 min' --price 0.50 --rate-limit 3M/3M --time 30m --bind-mac --code-only
  $CLI voucher batch create --package 'Cafe 30 min' --count 10 --pdf /tmp/cafe.pdf
  $CLI trial show                                               # 15 minutes a day per device, no voucher
  printf 'User-Name = T-02-00-00-00-00-01\nUser-Password = T-02-00-00-00-00-01\nCalling-Station-Id = 02-00-00-00-00-01\nMessage-Authenticator = 0x00\n' | radclient -x 127.0.0.1:$AUTH auth testing123
  $CLI hotspot bundle --org demo /tmp/hotspot                   # login.html & co for the router's hotspot/ folder
  $CLI customer add 'Adwoa Owusu' --email adwoa@example.com --package 1 --send-credentials   # a voucher + login details by e-mail
  ls -t $DIR/outbox | head -2                                   # the credentials e-mail (.eml)
  curl -s -H "Authorization: Bearer \$(cat $TOKEN_FILE)" 'http://127.0.0.1:$WEB/api/v1/vouchers?limit=3'

Roles and the admin console (owner, admin, cashier, support: the API and the console check the same table):
  $CLI admin list                                               # the demo's console accounts
  $CLI token create --org demo --name till --role cashier --json # a cashier's API token: 403 on settings
  $CLI admin add support@demo.example --org demo --role support --password support-pass

Admin API (token of org demo in $TOKEN_FILE; reference: http://127.0.0.1:$WEB/api/v1/docs):
  TOKEN=\$(cat $TOKEN_FILE)
  curl -s -H "Authorization: Bearer \$TOKEN" 'http://127.0.0.1:$WEB/api/v1/customers?limit=3'
  curl -s -H "Authorization: Bearer \$TOKEN" 'http://127.0.0.1:$WEB/api/v1/customers?status=suspended'
  curl -s -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' -H 'Idempotency-Key: try-1' \\
       -d '{"name": "Abena Boateng", "email": "abena@example.com"}' http://127.0.0.1:$WEB/api/v1/customers
  curl -s -H "Authorization: Bearer \$TOKEN" 'http://127.0.0.1:$WEB/api/v1/audit?limit=5'
  curl -s -H "Authorization: Bearer \$TOKEN" 'http://127.0.0.1:$WEB/api/v1/messages?limit=3'
  curl -s http://127.0.0.1:$WEB/api/v1/openapi.json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["paths"]), "paths")'
  $CLI token list

The admin console: http://127.0.0.1:$WEB/admin/login as owner@demo.example / owner-pass: the dashboard's
figures link their lists; search "yaw" at /admin/customers, open the suspended customer and record a payment
(back online at once); approve the pending registration at /admin/registrations; generate and print a voucher
batch at /admin/vouchers/batches; products, routers (provisioning preview), settings (template previews);
set up two-factor login at /admin/2fa with any TOTP app. As cashier@demo.example / cashier-pass, settings and
plan changes answer the 403 page.
In a browser: http://127.0.0.1:$WEB/ (what is running, each org's portal);
the customer portal http://127.0.0.1:$WEB/demo/portal/login: sign in as ama@example.com / ama-pass
(services, router password, balance, usage, invoices) or yaw@example.com / yaw-pass (suspended: "Pay now"
opens the built-in test gateway; Succeed, and yaw is back online at once); "Forgot password" mails land in
$DIR/outbox; http://127.0.0.1:$WEB/demo/portal/suspended?reason=unpaid is where erin's walled garden sends her.
Sign up as a new customer at http://127.0.0.1:$WEB/demo/portal/signup/ (type the area Downtown or the postcode
SP1 4AB, choose a plan, fill the form, sign the contract, pay with the test gateway: online at once), or at
http://127.0.0.1:$WEB/demo/portal/register (waits for approval). Signed in as kofi@example.com / kofi-pass:
Products, Cart, Orders (his Static IP request, pay it from its page) and Tickets (the answer to it).
Vouchers: signed in, http://127.0.0.1:$WEB/demo/portal/vouchers (buy "1 day" with the test gateway: the code,
password and "Connect now"; then History and the dashboard's voucher figures; efua@example.com / efua-pass
already has one). Hotspot-mode sign-up (automatic approval, straight to the dashboard):
$CLI billing signup --org demo --mode hotspot, then http://127.0.0.1:$WEB/demo/portal/register.
MSG
