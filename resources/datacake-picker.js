/*
 * Editor side of the Datacake pickers, shared by datacake-mqtt-in and datacake-mqtt-out (served by Node-RED at
 * resources/node-red-contrib-device-protocols/datacake-picker.js). The picker asks the runtime, which holds the
 * token; a token typed but not deployed yet is sent once in a POST body and nothing the runtime answers contains it.
 */
(function () {
  if (window.DatacakePicker) return;
  window.DatacakePicker = {
    /** Wire the picker and field checks of an edit dialog; `type` prefixes the element ids and i18n keys. */
    prepare: function (node, type) {
      var devices = [];
      var el = function (name) { return $('#' + type + '-' + name); };
      var t = function (key) { return node._(type + '.picker.' + key); };
      function say(text) { el('picker-status').text(text || ''); }
      // Wildcard "*" is not MQTT: show the rewrite to "+" at once.
      $('#node-input-deviceId, #node-input-field').on('change keyup', function () {
        var star = $('#node-input-deviceId').val() === '*' || $('#node-input-field').val() === '*';
        el('star-warning').toggle(star);
      }).trigger('change');
      // Upper-case only a valid identifier (ASCII): toUpperCase() would turn "straße" into the valid "STRASSE",
      // another field; an invalid name stays as typed and the validation marks it.
      $('#node-input-field').on('change', function () { var v = $(this).val(); if (/^[A-Za-z0-9_]+$/.test(v || '')) $(this).val(v.toUpperCase()); });
      function call(path, extra) {
        var id = $('#node-input-broker').val();
        if (!id || id === '_ADD_') { say(t('noBroker')); return null; }
        var cfg = RED.nodes.node(id) || {};
        var body = $.extend({}, extra || {});
        var token = cfg.credentials && cfg.credentials.token;
        if (token && token !== '__PWRD__') body.token = token;
        if (cfg.apiUrl) body.apiUrl = cfg.apiUrl;
        return $.ajax({ url: 'datacake-broker/' + encodeURIComponent(id) + '/' + path, method: 'POST', contentType: 'application/json', data: JSON.stringify(body), dataType: 'json' });
      }
      function failed(xhr) { say((xhr.responseJSON && xhr.responseJSON.error) || t('failed')); }
      el('load').on('click', function () {
        say(t('loading'));
        var req = call('workspaces');
        if (!req) return;
        req.done(function (data) {
          var sel = el('workspace').empty().append($('<option>').val('').text('—'));
          (data.workspaces || []).forEach(function (w) { sel.append($('<option>').val(w.id).text(w.name)); });
          $('.' + type + '-picker').show();
          say('');
        }).fail(failed);
      });
      el('workspace').on('change', function () {
        var ws = $(this).val();
        if (!ws) return;
        say(t('loading'));
        var req = call('devices', { workspace: ws });
        if (!req) return;
        req.done(function (data) {
          devices = data.devices || [];
          var sel = el('device').empty().append($('<option>').val('').text('—'));
          devices.forEach(function (d, i) { sel.append($('<option>').val(String(i)).text(d.name + (d.serial ? ' (' + d.serial + ')' : ''))); });
          say(devices.length + ' / ' + data.total);
        }).fail(failed);
      });
      el('device').on('change', function () {
        var d = devices[Number($(this).val())];
        if (!d) return;
        $('#node-input-productSlug').val(d.productSlug);
        $('#node-input-deviceId').val(d.id).trigger('change');
        var sel = el('field').empty().append($('<option>').val('').text('—'));
        d.fields.forEach(function (f) { sel.append($('<option>').val(f.name).text(f.name + (f.label ? ' – ' + f.label : '') + (f.type ? ' [' + f.type + ']' : ''))); });
      });
      el('field').on('change', function () { var f = $(this).val(); if (f) $('#node-input-field').val(f).trigger('change'); });
    }
  };
})();
