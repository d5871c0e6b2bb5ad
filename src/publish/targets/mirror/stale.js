// statusgate mirror: says so on the page when this copy has not been updated for longer
// than the publisher's `stale_after`, from the time the page carries (no server needed).
(function () {
  var meta = function (name) {
    var m = document.querySelector('meta[name="' + name + '"]');
    return m ? m.getAttribute('content') : null;
  };
  var asOf = Date.parse(meta('statusgate-as-of') || '');
  var staleAfter = Number(meta('statusgate-stale-after')) * 1000;
  if (!isFinite(asOf) || !isFinite(staleAfter)) return;
  var check = function () {
    var banner = document.getElementById('statusgate-stale');
    if (Date.now() - asOf <= staleAfter) {
      if (banner) banner.remove();
      return;
    }
    if (banner) return;
    banner = document.createElement('div');
    banner.id = 'statusgate-stale';
    banner.setAttribute('role', 'alert');
    banner.textContent = 'This copy of the status page may be out of date: it was last updated ' +
      new Date(asOf).toISOString().slice(0, 16).replace('T', ' ') + ' UTC.';
    // Styles set through the DOM, which the page's CSP allows (inline style attributes it does not).
    var s = banner.style;
    s.background = '#fff4ce'; s.color = '#3b2e00'; s.border = '1px solid #d4a72c';
    s.padding = '0.75em 1em'; s.margin = '0'; s.fontWeight = '600'; s.textAlign = 'center';
    document.body.insertBefore(banner, document.body.firstChild);
  };
  check();
  setInterval(check, 30000);
})();
