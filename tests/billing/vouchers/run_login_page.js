// Runs a served hotspot login page's inline script under node with a minimal DOM, as a browser would
// run it: reads one JSON object on stdin ({md5, script, search, username, password, submit, sendin}) and
// prints the forms submitted ([{form, username, password}]) as JSON.
const vm = require('vm');
let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
  const t = JSON.parse(input);
  const submitted = [];
  const focused = [];
  function form(name) {
    const f = { submit() { submitted.push({ form: name, username: f.username.value, password: f.password.value }); } };
    for (const k of ['username', 'password']) {
      f[k] = { value: '', focus() { focused.push(name + '.' + k); } };
    }
    return f;
  }
  const login = form('login');
  login.username.value = t.username || '';
  const els = { login, sendin: t.sendin ? form('sendin') : null, error: { hidden: false } };
  const ctx = { window: { location: { search: t.search || '' } },
                document: { getElementById: (id) => els[id] || null } };
  vm.createContext(ctx);
  if (t.md5) { vm.runInContext(t.md5, ctx); }
  vm.runInContext(t.script, ctx);
  if (t.submit) {
    login.username.value = t.submit.username;
    login.password.value = t.submit.password;
    if (login.onsubmit() !== false) { submitted.push({ form: 'login(native)' }); }
  }
  process.stdout.write(JSON.stringify({ submitted, focused, error_hidden: els.error.hidden }));
});
