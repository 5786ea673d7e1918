// The request page without waiting for the form to be sent: as the customer types the
// fault, the articles that may answer it appear under the description (the server's
// fragment, escaped and sanitised there).  The page works the same without this script.
(function () {
  "use strict";
  var box = document.getElementById("description");
  var out = document.getElementById("suggestions");
  var product = document.getElementById("product");
  if (!box || !out) { return; }
  var timer = null;
  var asked = "";
  function ask() {
    var q = box.value.trim();
    if (q.length < 4 || q === asked) { return; }
    asked = q;
    var url = out.getAttribute("data-src") + "&q=" + encodeURIComponent(q.slice(0, 500)) +
      "&product=" + encodeURIComponent(product ? product.value.trim().slice(0, 100) : "");
    fetch(url, {credentials: "same-origin"}).then(function (r) {
      return r.ok ? r.text() : "";
    }).then(function (html) {
      if (asked === q) { out.innerHTML = html; }
    }).catch(function () { /* offline or refused: the form still works */ });
  }
  box.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(ask, 900);
  });
})();
