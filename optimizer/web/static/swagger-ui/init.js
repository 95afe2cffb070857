// staffplan: start Swagger UI on the app's OpenAPI document; "Try it out" requests carry
// the session's CSRF token (X-CSRF-Token), fetched from /api/session.
(function () {
  var token = "";
  fetch("/api/session", { credentials: "same-origin" })
    .then(function (r) { return r.json(); })
    .then(function (s) { token = s.csrf_token || ""; });
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    requestInterceptor: function (req) {
      if (token) { req.headers["X-CSRF-Token"] = token; }
      return req;
    },
  });
})();
