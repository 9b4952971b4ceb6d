// callops: starts Swagger UI on /api/docs/. A file, not an inline script, for the strict CSP.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("swagger-ui");
    if (!root || typeof window.SwaggerUIBundle !== "function") return;
    var csrfToken = root.dataset.csrfToken;
    window.ui = window.SwaggerUIBundle({
      url: root.dataset.schemaUrl,
      dom_id: "#swagger-ui",
      presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIStandalonePreset],
      layout: "BaseLayout",
      deepLinking: true,
      persistAuthorization: false,
      validatorUrl: null,
      // "Try it out" from a signed-in browser uses the session, which needs the CSRF token.
      requestInterceptor: function (request) {
        if (csrfToken && !request.headers.Authorization) {
          request.headers["X-CSRFToken"] = csrfToken;
        }
        return request;
      },
    });
  });
})();
