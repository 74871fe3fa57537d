# Tessera-Seiten und -E-Mails: deutsche Texte. Fehlt hier eine Nachricht, gilt die englische.
# Betreiber überschreiben einzelne Nachrichten pro Mandant in <theme_dir>/<tenant>/locales/de/tessera.ftl.
# Jede Seite erhält außerdem $tenant_name.

## Seitenrahmen

skip-to-content = Zum Inhalt springen
nav-legal = Rechtliches
nav-language = Sprache
nav-other-options = Weitere Möglichkeiten
label-optional = optional
select-choose = Bitte auswählen
message-kind-error = Fehler
message-kind-info = Hinweis
message-kind-success = Erledigt

## Überschriften und Einleitungen der Abläufe

login-title = Anmelden
login-intro = Melden Sie sich an, um mit { $tenant_name } fortzufahren.
login-profile-title = Noch ein paar Angaben
login-profile = Bevor es weitergeht, brauchen wir noch ein paar Informationen.
login-pending-title = Sehen Sie in Ihr Postfach
login-pending = Geben Sie den Code ein, den wir Ihnen gesendet haben, um sich anzumelden.
login-second-factor-title = Noch ein Schritt
login-second-factor = Bestätigen Sie auf eine weitere Art, dass Sie es sind, um die Anmeldung abzuschließen.
registration-title = Konto erstellen
registration-intro = Das dauert nur eine Minute.
registration-sent = Wir haben einen Code an Ihre E-Mail-Adresse gesendet. Geben Sie ihn ein, um fortzufahren.
registration-details-title = Fast geschafft
registration-details = Wählen Sie ein Passwort und erzählen Sie uns ein wenig über sich.
verification-title = E-Mail-Adresse bestätigen
verification-intro = Geben Sie Ihre E-Mail-Adresse ein, und wir senden Ihnen einen Code.
verification-sent = Wir haben einen Code an Ihre E-Mail-Adresse gesendet. Geben Sie ihn unten ein, um die Adresse zu bestätigen.
verification-passed = Ihre E-Mail-Adresse ist bestätigt.
recovery-title = Passwort zurücksetzen
recovery-intro = Geben Sie die E-Mail-Adresse Ihres Kontos ein, und wir senden Ihnen einen Code.
recovery-sent = Geben Sie den Code ein, den wir an Ihre E-Mail-Adresse gesendet haben.
recovery-set-password-title = Neues Passwort wählen
recovery-set-password = Wählen Sie ein neues Passwort für Ihr Konto. Damit werden Sie anschließend angemeldet.
settings-title = Kontoeinstellungen
settings-intro = Verwalten Sie Ihr Profil, Ihr Passwort und Ihre Anmeldungen.
settings-group-profile = Profil
settings-group-password = Passwort
settings-group-code = E-Mail-Adresse
settings-group-email = E-Mail-Adresse
settings-group-sessions = Wo Sie angemeldet sind
settings-group-email_confirm = Neue E-Mail-Adresse bestätigen
settings-group-consent = Berechtigungen
settings-group-apps = Apps mit Zugriff

## Verweise

link-forgot-password = Passwort vergessen?
link-no-account = Noch kein Konto? Jetzt erstellen
link-have-account = Sie haben schon ein Konto? Anmelden
link-sign-up = Konto erstellen
link-sign-in = Anmelden
link-back-to-sign-in = Zurück zur Anmeldung
link-back-to-app = Zurück zur Anwendung
link-settings = Kontoeinstellungen
link-sign-out = Abmelden
link-terms = Nutzungsbedingungen
link-privacy = Datenschutzerklärung
link-try-again = Erneut versuchen
link-start-over = Neu beginnen
link-start-again = Noch einmal beginnen
link-continue = Weiter

## Einfache Seiten

page-done-title = Fertig
page-done-text = Sie können diese Seite jetzt schließen.
page-signed-out-title = Sie sind abgemeldet
page-signed-out-text = Sie wurden abgemeldet. Sie können diese Seite schließen oder sich erneut anmelden.
page-check-email-title = Sehen Sie in Ihr Postfach
page-check-email-text = Falls ein Konto für { $email } existiert, haben wir eine E-Mail dorthin gesendet. Folgen Sie den Anweisungen darin, um fortzufahren.
page-error-title = Etwas ist schiefgelaufen
page-error-text = Das hat leider nicht geklappt. Bitte gehen Sie zurück und versuchen Sie es erneut. Wenn das Problem bleibt, wenden Sie sich an den Support.
page-not-found-title = Seite nicht gefunden
page-not-found-text = Diese Seite gibt es nicht oder der Link ist nicht mehr gültig. Bitte beginnen Sie neu.
page-flow-expired-title = Die Zeit ist abgelaufen
page-flow-expired-text = Das hat zu lange gedauert, deshalb haben wir von vorn begonnen. Bitte versuchen Sie es noch einmal.
page-unavailable-title = Gerade gibt es ein Problem
page-unavailable-text = Bitte versuchen Sie es in ein paar Minuten erneut.
page-rate-limited-title = Zu viele Anfragen
page-rate-limited-text = { $minutes ->
    [one] Aus Ihrem Netz kamen zu viele Anfragen. Bitte warten Sie eine Minute und beginnen Sie dann erneut.
   *[other] Aus Ihrem Netz kamen zu viele Anfragen. Bitte warten Sie { $minutes } Minuten und beginnen Sie dann erneut.
}
page-oauth-error-title = Dieser Anmeldelink funktioniert nicht
page-oauth-error-text = Die App, die Sie hierher geschickt hat, hat die Anmeldung auf eine Weise angefragt, die wir nicht annehmen können, deshalb haben wir Sie nicht zu ihr zurückgeschickt. Bitte kehren Sie zur App zurück und versuchen Sie es noch einmal. Für die Entwickler der App: { $detail }
page-logout-error-title = Dieser Abmeldelink funktioniert nicht
page-logout-error-text = Die App, die Sie hierher geschickt hat, hat die Abmeldung auf eine Weise angefragt, die wir nicht annehmen können, deshalb haben wir Sie nicht zu ihr zurückgeschickt. Sie sind weiterhin angemeldet; abmelden können Sie sich in Ihren Kontoeinstellungen. Für die Entwickler der App: { $detail }
page-logout-confirm-title = Abmelden?
page-logout-confirm-text = Eine App hat darum gebeten, Sie abzumelden. Die Abmeldung beendet Ihre Sitzung hier und in allen Apps, bei denen Sie sich damit angemeldet haben.
page-consent-title = { $client } Zugriff auf Ihr Konto erlauben?
page-consent-text = { $client } möchte Ihr Konto bei { $tenant_name } nutzen. Wenn Sie es erlauben, erhält die App die Antwort unter { $host } und kann:
consent-scope-openid = erkennen, wer Sie sind, wenn Sie sich bei ihr anmelden
consent-scope-profile = Ihren Namen und weitere Profilangaben sehen, etwa Geburtstag und Sprache
consent-scope-email = Ihre E-Mail-Adresse sehen
consent-scope-phone = Ihre Telefonnummer sehen
consent-scope-address = Ihre Postanschrift sehen
consent-scope-offline_access = Zugriff behalten, während Sie abgemeldet sind, bis Sie ihn entfernen
consent-scope-custom = „{ $scope }“ nutzen, eine Berechtigung von { $tenant_name }
button-allow = Erlauben
button-deny = Ablehnen
page-bad-request-title = Das hat nicht geklappt
page-bad-request-text = Wir konnten nicht verstehen, was Ihr Browser gesendet hat. Bitte beginnen Sie noch einmal.
page-forbidden-title = Dieses Formular kann nicht verwendet werden
page-forbidden-text = Das Formular ist abgelaufen oder wurde von einer anderen Seite gesendet. Zum Schutz Ihres Kontos haben wir es nicht angenommen. Bitte beginnen Sie noch einmal.
page-confirmed-title = Bestätigt
page-confirmed-text = Vielen Dank, das ist bestätigt.
page-link-invalid-title = Dieser Link funktioniert nicht mehr
page-link-invalid-text = Der Link ist abgelaufen oder wurde schon verwendet. Bitte fordern Sie einen neuen an oder melden Sie sich an.
page-other-browser-title = Öffnen Sie den Link im selben Browser
page-other-browser-text = Dieser Link funktioniert nur in dem Browser, in dem Sie ihn angefordert haben. Öffnen Sie ihn dort oder geben Sie stattdessen den Code aus der E-Mail ein.
page-not-me-title = Waren Sie das nicht?
page-not-me-text = Jemand hat die E-Mail-Adresse Ihres Kontos bei { $tenant_name } geändert oder eine Änderung verlangt. Wenn Sie das nicht waren, sperren Sie das Konto: Eine noch ausstehende Änderung wird abgebrochen, alle Geräte werden abgemeldet, und niemand kann sich anmelden oder das Passwort zurücksetzen, bis der Support von { $tenant_name } mit Ihnen gesprochen hat. Die E-Mail-Adresse wird nicht zurückgesetzt. Wenn Sie die Änderung selbst vorgenommen haben, schließen Sie diese Seite einfach: Es ist nichts geschehen.
button-freeze-account = Mein Konto sperren
page-device-title = Ein Gerät verbinden
page-device-text = Geben Sie den Code ein, den Ihr Fernseher, Ihre Konsole oder Ihr anderes Gerät zeigt. Sie melden sich hier bei { $tenant_name } an und entscheiden dann, ob dieses Gerät Ihr Konto nutzen darf.
label-user-code = Code von Ihrem Gerät
button-device-continue = Weiter
error-user-code = Dieser Code ist ungültig oder abgelaufen. Prüfen Sie den Code auf Ihrem Gerät und versuchen Sie es noch einmal.
page-device-confirm-title = Auf Ihrem anderen Gerät bei { $app } anmelden?
page-device-confirm-text = Sie sind als { $account } angemeldet. { $app } wird dieses Konto bei { $tenant_name } auf dem Gerät nutzen, das Ihnen den Code { $code } gezeigt hat. Prüfen Sie, dass Ihr Gerät genau diesen Code zeigt, und erlauben Sie das nur, wenn Sie es selbst begonnen haben, auf einem Gerät vor Ihnen. Wenn Sie es erlauben, kann { $app }:
button-device-allow = Erlauben
button-device-deny = Ablehnen
page-device-allowed-title = Ihr Gerät ist angemeldet
page-device-allowed-text = Sie können jetzt zu Ihrem Gerät zurückkehren.
page-device-denied-title = Ihr Gerät wurde nicht angemeldet
page-device-denied-text = Sie haben abgelehnt, deshalb kann das Gerät Ihr Konto nicht nutzen. Sie können diese Seite schließen.
page-device-gone-title = Diese Anfrage gilt nicht mehr
page-device-gone-text = Sie ist abgelaufen oder wurde schon beantwortet. Beginnen Sie auf Ihrem Gerät noch einmal, um einen neuen Code zu bekommen.
page-device-retype-title = Geben Sie den Code Ihres Geräts ein
page-device-retype-text = Ein Gerät kann nur in dem Browser verbunden werden, in dem sein Code eingegeben wurde. Zeigt ein Gerät vor Ihnen einen Code, geben Sie ihn auf der Geräteseite ein. Hat Ihnen jemand diesen Link geschickt, machen Sie nicht weiter.
link-device-page = Code eingeben
page-device-signed-out-title = Sie sind nicht mehr angemeldet
page-device-signed-out-text = Es wurde nichts entschieden, weil Sie abgemeldet wurden, nachdem diese Seite angezeigt wurde. Geben Sie den Code Ihres Geräts noch einmal ein und melden Sie sich an, wenn Sie danach gefragt werden.
page-device-sign-in-first-title = Melden Sie sich zuerst an
page-device-sign-in-first-text = Hier wurden zuletzt viele falsche Codes eingegeben, deshalb werden Codes vorerst nur von angemeldeten Personen angenommen. Melden Sie sich an und geben Sie dann den Code Ihres Geräts ein.
page-frozen-title = Ihr Konto ist gesperrt
page-frozen-text = Eine noch ausstehende Änderung der E-Mail-Adresse ist abgebrochen, alle Geräte sind abgemeldet, und niemand kann sich anmelden oder das Passwort zurücksetzen. Die E-Mail-Adresse wurde nicht zurückgesetzt. Bitte wenden Sie sich an den Support von { $tenant_name }: Er klärt die Lage mit Ihnen und entsperrt das Konto.

## Feldbeschriftungen

label-email = E-Mail-Adresse
label-password = Passwort
label-new-password = Neues Passwort
label-current-password = Aktuelles Passwort
label-code = Code
label-identifier = E-Mail-Adresse oder Benutzername
label-accept-terms = Ich akzeptiere die Nutzungsbedingungen und die Datenschutzhinweise
label-current-email = Aktuelle E-Mail-Adresse: { $email }
# Vor einem Zeitpunkt in der Liste der angemeldeten Geräte, z. B. „Angemeldet am 23. Nov. 2026, 14:05 UTC“.
label-time-created-at = Angemeldet am
label-time-granted-at = Erlaubt am
label-time-last-seen-at = Zuletzt aktiv am
label-time-expires-at = Läuft ab am

## Schaltflächen

button-sign-in = Anmelden
button-email-code = Anmeldecode per E-Mail senden
button-sign-up = Konto erstellen
button-continue = Weiter
button-send-code = Code senden
button-verify = Bestätigen
button-save = Speichern
button-resend = Neuen Code senden
button-sign-out = Abmelden
button-revoke = Diese Sitzung abmelden

## Meldungen

error-invalid-credentials = Diese Kombination aus E-Mail-Adresse und Passwort hat nicht funktioniert. Bitte prüfen Sie beides und versuchen Sie es erneut.
error-method-unavailable = Diese Anmeldeart ist hier nicht verfügbar. Wählen Sie eine der angezeigten.
error-sign-in-again = Ihr Konto hat sich während der Anmeldung geändert. Bitte melden Sie sich erneut an.
error-session-changed = Sie sind nicht mehr wie zuvor angemeldet. Bitte melden Sie sich an.
error-required = Bitte füllen Sie dieses Feld aus.
error-invalid-email = Bitte geben Sie eine gültige E-Mail-Adresse ein, zum Beispiel name@example.com.
error-password-too-short = Verwenden Sie mindestens { $min } Zeichen.
error-password-too-long = Verwenden Sie höchstens { $max } Zeichen.
error-password-common = Dieses Passwort ist sehr verbreitet und leicht zu erraten. Bitte wählen Sie ein anderes.
error-password-contains-context = Ihr Passwort darf weder Ihre E-Mail-Adresse noch Ihren Namen enthalten.
error-password-breached = Dieses Passwort ist in einem Datenleck aufgetaucht und daher nicht sicher. Bitte wählen Sie ein anderes.
error-code-invalid = Dieser Code stimmt nicht. Bitte prüfen Sie ihn und versuchen Sie es erneut.
error-code-expired = Dieser Code ist abgelaufen. Bitte fordern Sie einen neuen an.
error-flow-expired = Das hat zu lange gedauert, deshalb haben wir von vorn begonnen. Bitte versuchen Sie es noch einmal.
error-csrf = Dieses Formular ist abgelaufen oder wurde von einer anderen Seite gesendet. Bitte versuchen Sie es erneut.
error-throttled = { $seconds ->
    [one] Zu viele Versuche. Bitte warten Sie eine Sekunde und versuchen Sie es dann erneut.
   *[other] Zu viele Versuche. Bitte warten Sie { $seconds } Sekunden und versuchen Sie es dann erneut.
}
error-disposable-email = Bitte verwenden Sie eine dauerhafte E-Mail-Adresse, keine Wegwerfadresse.
error-registration-closed = Die Registrierung ist derzeit geschlossen.
error-terms-required = Bitte akzeptieren Sie die Nutzungsbedingungen, um fortzufahren.
error-attribute-invalid = Der Wert für { $attribute } ist ungültig.
error-recovery-voided = Dieses Zurücksetzen gilt nicht mehr: Das Konto hat sich in der Zwischenzeit geändert (zum Beispiel wurde das Passwort geändert). Fordern Sie einen neuen Code an, um es erneut zu versuchen.
info-code-sent = Falls ein Konto für { $email } existiert, haben wir einen Code dorthin gesendet.
info-second-factor = Noch ein Schritt: Bestätigen Sie auf eine weitere Art, dass Sie es sind.
info-verification-sent = Wir haben Ihnen eine E-Mail mit einem Code gesendet, um Ihre Adresse zu bestätigen.
info-profile-needed = Um mit { $purpose } fortzufahren, vervollständigen Sie bitte Ihr Profil.
success-verified = Ihre E-Mail-Adresse ist bestätigt.
success-password-changed = Ihr Passwort wurde geändert.
success-email-change-pending = Wir haben einen Code an Ihre neue E-Mail-Adresse gesendet. Geben Sie ihn ein, um die Änderung zu bestätigen.
success-settings-saved = Ihre Änderungen wurden gespeichert.
success-session-revoked = Diese Sitzung wurde abgemeldet.
success-signed-out = Sie sind abgemeldet.
# Ein angemeldetes Gerät; $text beschreibt es (Browser und System), außerdem gibt es $ip. Die Seite zeigt
# daneben die Zeitpunkte $created_at, $last_seen_at und $expires_at mit den label-time-*-Texten.
info-session = { $text }
info-consent = { $text }
button-revoke-consent = Zugriff dieser App entfernen
success-consent-revoked = Diese App hat keinen Zugriff mehr auf Ihr Konto.
info-session-current = { $text } (dieses Gerät)
# Hinweise für ein stärkeres Passwort: neben einem abgelehnten neuen Passwort und nach einem schwachen, das angenommen wurde.
info-password-weak = Ihr neues Passwort ist gespeichert, ist aber womöglich leicht zu erraten.
info-password-advice-common-words = Gängige Wörter und Passwörter sind leicht zu erraten, auch wenn Buchstaben durch Ziffern ersetzt sind; mehrere Wörter ohne Zusammenhang sind stärker.
info-password-advice-repeated-pattern = Ein kürzeres Muster zu wiederholen, macht ein Passwort kaum stärker.
info-password-advice-years = Jahreszahlen wie ein Geburtsjahr oder das aktuelle Jahr sind leicht zu erraten.
info-password-advice-repeated-characters = Wiederholte Zeichen wie „aaa“ machen ein Passwort kaum stärker.
info-password-advice-sequences = Folgen wie „abc“ oder „1234“ sind leicht zu erraten.
info-password-advice-keyboard = Tastaturmuster wie „qwert“ oder „asdf“ sind leicht zu erraten.
info-password-advice-longer = Machen Sie es länger: Einige Wörter ohne Zusammenhang sind stärker als Sonderzeichen und Ziffern.

## E-Mails

mail-greeting = Hallo,
mail-footer = Diese E-Mail wurde von { $tenant_name } gesendet.
mail-code-label = Ihr Code:
mail-code-expires = { $expires_minutes ->
    [one] Der Code ist eine Minute lang gültig.
   *[other] Der Code ist { $expires_minutes } Minuten lang gültig.
}
mail-link-intro = Oder öffnen Sie diesen Link:

mail-verification_code-subject = Bestätigen Sie Ihre E-Mail-Adresse für { $tenant_name }
mail-verification_code-intro = Mit diesem Code bestätigen Sie Ihre E-Mail-Adresse für { $tenant_name }.
mail-verification_code-ignore = Wenn Sie das nicht angefordert haben, können Sie diese E-Mail ignorieren.
mail-sign_in_code-subject = Ihr Anmeldecode für { $tenant_name }
mail-sign_in_code-intro = Mit diesem Code melden Sie sich bei { $tenant_name } an.
mail-sign_in_code-ignore = Wenn Sie sich nicht anmelden wollten, können Sie diese E-Mail ignorieren; ohne den Code kann sich niemand anmelden. Kommt das öfter vor, ändern Sie am besten Ihr Passwort.

mail-recovery_code-subject = Ihr Passwort für { $tenant_name } zurücksetzen
mail-recovery_code-intro = Mit diesem Code setzen Sie das Passwort Ihres Kontos bei { $tenant_name } zurück.
mail-recovery_code-ignore = Wenn Sie das Zurücksetzen nicht angefordert haben, können Sie diese E-Mail ignorieren. Ihr Passwort bleibt unverändert.

mail-email_change_code-subject = Bestätigen Sie Ihre neue E-Mail-Adresse für { $tenant_name }
mail-email_change_code-intro = Mit diesem Code bestätigen Sie { $email } als neue E-Mail-Adresse Ihres Kontos bei { $tenant_name }.
mail-email_change_code-ignore = Wenn Sie diese Änderung nicht angefordert haben, können Sie diese E-Mail ignorieren. Es ändert sich nichts.

mail-email_changed_notice-subject = Die E-Mail-Adresse Ihres Kontos bei { $tenant_name } wurde geändert
mail-email_changed_notice-body = { $change ->
    [pending] Jemand hat verlangt, die E-Mail-Adresse Ihres Kontos bei { $tenant_name } zu ändern. Bis die neue Adresse bestätigt ist, ändert sich nichts.
   *[other] Die E-Mail-Adresse Ihres Kontos bei { $tenant_name } wurde soeben geändert. Nachrichten zu Ihrem Konto senden wir ab jetzt an die neue Adresse.
}
mail-email_changed_notice-next = Wenn Sie das nicht veranlasst haben, öffnen Sie innerhalb von { $undo_hours } Stunden den Link unten. Er fragt zuerst nach; wenn Sie bestätigen, wird das Konto gesperrt: Eine noch ausstehende Änderung wird abgebrochen, alle Geräte werden abgemeldet, und niemand kann sich anmelden oder das Passwort zurücksetzen, bis unser Support mit Ihnen gesprochen hat. Die Adresse wird nicht zurückgesetzt.

mail-password_changed_notice-subject = Ihr Passwort für { $tenant_name } wurde geändert
mail-password_changed_notice-body = Das Passwort Ihres Kontos bei { $tenant_name } wurde soeben geändert.
mail-password_changed_notice-next = Wenn Sie es nicht geändert haben, setzen Sie Ihr Passwort sofort zurück und wenden Sie sich an den Support.

mail-account_exists-subject = Sie haben bereits ein Konto bei { $tenant_name }
mail-account_exists-body = Jemand, hoffentlich Sie, wollte mit dieser E-Mail-Adresse ein Konto bei { $tenant_name } erstellen. Sie haben damit bereits ein Konto, deshalb haben wir kein neues angelegt.
mail-account_exists-next = Sie können sich mit Ihrem bestehenden Konto anmelden:
mail-account_exists-recovery = Passwort vergessen? Hier können Sie es zurücksetzen:
mail-account_exists-ignore = Wenn das nicht Sie waren, können Sie diese E-Mail ignorieren. Ohne Ihr Passwort kann niemand Ihr Konto verwenden.
