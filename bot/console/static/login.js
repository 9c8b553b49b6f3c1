// The login form keeps the conversation a deep link pointed at (/console/#web:…):
// browsers never send the part after "#", so it is added to "next" here.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const next = document.querySelector('input[name="next"]');
  if (next && window.location.hash.length > 1 && !next.value.includes("#")) next.value += window.location.hash;
});
