// Loaded before Redoc on /api/redoc/ only. Redoc 2 always draws its menu footer's logo
// from https://cdn.redoc.ly, with no option to turn it off: a request to a foreign origin
// that the CSP blocks (and reports) on every view. Give that one image an empty source
// instead: the browser then fires its error event, on which Redoc drops the image, and
// the footer's text link stays. React sets the source both as an attribute and as a
// property, so both are covered; any other image or attribute passes through.
(function () {
  "use strict";
  var REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg";
  var local = function (value) {
    return String(value) === REDOC_LOGO ? "" : value;
  };

  var setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    if (this instanceof HTMLImageElement && String(name).toLowerCase() === "src") {
      value = local(value);
    }
    return setAttribute.call(this, name, value);
  };

  var src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    configurable: true,
    enumerable: src.enumerable,
    get: src.get,
    set: function (value) {
      src.set.call(this, local(value));
    },
  });
})();
