# Tessera hosted pages and mails: English texts (the fallback for every other locale).
# Operators override single messages per tenant in <theme_dir>/<tenant>/locales/en/tessera.ftl.
# Every page also receives $tenant_name.

## Page frame

skip-to-content = Skip to main content
nav-legal = Legal
nav-language = Language
nav-other-options = Other options
label-optional = optional
select-choose = Please choose
message-kind-error = Error
message-kind-info = Note
message-kind-success = Done

## Flow headings and introductions: <kind>-title, <kind>-<state>-title, <kind>-<state>, <kind>-intro

login-title = Sign in
login-intro = Sign in to continue to { $tenant_name }.
login-profile-title = A few more details
login-profile = We need a little more information before you continue.
login-pending-title = Check your email
login-pending = Enter the code we sent to sign in.
login-second-factor-title = One more step
login-second-factor = Confirm it is you another way to finish signing in.
registration-title = Create your account
registration-intro = It only takes a minute.
registration-sent = We sent a code to your email address. Enter it to continue.
registration-details-title = Almost done
registration-details = Choose a password and tell us a little about yourself.
verification-title = Confirm your email address
verification-intro = Enter your email address and we will send you a code.
verification-sent = We sent a code to your email address. Enter it below to confirm the address.
verification-passed = Your email address is confirmed.
recovery-title = Reset your password
recovery-intro = Enter the email address of your account and we will send you a code.
recovery-sent = Enter the code we sent to your email address.
recovery-set-password-title = Choose a new password
recovery-set-password = Choose a new password for your account. You will be signed in with it.
settings-title = Account settings
settings-intro = Manage your profile, your password and where you are signed in.
settings-group-profile = Profile
settings-group-password = Password
settings-group-code = Email address
settings-group-email = Email address
settings-group-sessions = Where you are signed in
settings-group-email_confirm = Confirm your new email address
settings-group-consent = Permissions
settings-group-apps = Apps with access

## Links between flows and in the footer

link-forgot-password = Forgot your password?
link-no-account = No account yet? Create one
link-have-account = Already have an account? Sign in
link-sign-up = Create an account
link-sign-in = Sign in
link-back-to-sign-in = Back to sign in
link-back-to-app = Back to the application
link-settings = Account settings
link-sign-out = Sign out
link-terms = Terms of service
link-privacy = Privacy policy
link-try-again = Try again
link-start-over = Start over
link-start-again = Start again
link-continue = Continue

## Simple pages

page-done-title = All done
page-done-text = You can close this page now.
page-signed-out-title = You are signed out
page-signed-out-text = You have been signed out. You can close this page or sign in again.
page-check-email-title = Check your email
page-check-email-text = If an account exists for { $email }, we sent it an email. Follow the instructions in it to continue.
page-error-title = Something went wrong
page-error-text = We could not finish that. Please go back and try again. If it keeps happening, contact support.
page-not-found-title = Page not found
page-not-found-text = This page does not exist or the link is no longer valid. Please start again.
page-flow-expired-title = Time ran out
page-flow-expired-text = That took too long, so we started over. Please try again.
page-unavailable-title = We are having trouble right now
page-unavailable-text = Please try again in a few minutes.
page-rate-limited-title = Too many requests
page-rate-limited-text = { $minutes ->
    [one] Too many requests came from your network. Please wait a minute, then start again.
   *[other] Too many requests came from your network. Please wait { $minutes } minutes, then start again.
}
page-oauth-error-title = This sign-in link does not work
page-oauth-error-text = The app that sent you here asked in a way we cannot accept, so we did not send you back to it. Please go back to the app and try again. For the app's developer: { $detail }
page-logout-error-title = This sign-out link does not work
page-logout-error-text = The app that sent you here asked to sign you out in a way we cannot accept, so we did not send you back to it. You are still signed in; you can sign out from your account settings. For the app's developer: { $detail }
page-logout-confirm-title = Sign out?
page-logout-confirm-text = An app asked to sign you out. Signing out ends your session here and in every app you signed in to with it.
page-consent-title = Allow { $client } to use your account?
page-consent-text = { $client } asks to use your { $tenant_name } account. If you allow it, it gets the answer at { $host } and can:
consent-scope-openid = know who you are when you sign in to it
consent-scope-profile = see your name and other profile details, such as your birthday and language
consent-scope-email = see your email address
consent-scope-phone = see your phone number
consent-scope-address = see your postal address
consent-scope-offline_access = keep access while you are signed out, until you remove it
consent-scope-custom = use "{ $scope }", a permission { $tenant_name } defined
button-allow = Allow
button-deny = Deny
page-bad-request-title = That did not work
page-bad-request-text = We could not understand what your browser sent. Please start again.
page-forbidden-title = This form cannot be used
page-forbidden-text = The form expired or was sent from another page, so we did not accept it to protect your account. Please start again.
page-confirmed-title = Confirmed
page-confirmed-text = Thank you, that is confirmed.
page-link-invalid-title = This link does not work any more
page-link-invalid-text = The link has expired or has already been used. Please ask for a new one, or sign in.
page-other-browser-title = Open the link in the same browser
page-other-browser-text = This link only works in the browser where you asked for it. Open it there, or enter the code from the email instead.
page-not-me-title = Was this not you?
page-not-me-text = Someone changed, or asked to change, the email address of your { $tenant_name } account. If it was not you, freeze the account: a change still waiting is cancelled, every device is signed out, and nobody can sign in or reset the password until { $tenant_name } support has checked with you. The email address is not moved back. If you made the change yourself, just close this page: nothing has happened.
button-freeze-account = Freeze my account
page-device-title = Connect a device
page-device-text = Enter the code your TV, console or other device shows. You will sign in to { $tenant_name } here, then say whether that device may use your account.
label-user-code = Code from your device
button-device-continue = Continue
error-user-code = This code is not valid or has expired. Check the code on your device and try again.
page-device-confirm-title = Sign in to { $app } on your other device?
page-device-confirm-text = You are signed in as { $account }. { $app } will use this { $tenant_name } account on the device that showed you the code { $code }. Check that your device shows exactly this code, and only allow this if you started it yourself, on a device in front of you. If you allow it, { $app } can:
button-device-allow = Allow
button-device-deny = Deny
page-device-allowed-title = Your device is signed in
page-device-allowed-text = You can go back to your device now.
page-device-denied-title = Your device was not signed in
page-device-denied-text = You said no, so the device cannot use your account. You can close this page.
page-device-gone-title = This request is no longer valid
page-device-gone-text = It has expired or has already been answered. Start again on your device to get a new code.
page-device-retype-title = Type the code from your device
page-device-retype-text = A device can only be connected from the browser where its code was typed. If a device in front of you shows a code, type it on the device page. If someone sent you this link, do not continue.
link-device-page = Enter a code
page-device-signed-out-title = You are no longer signed in
page-device-signed-out-text = Nothing was decided, because you were signed out after this page was shown. Type the code from your device again, and sign in when asked.
page-device-sign-in-first-title = Sign in first
page-device-sign-in-first-text = Many wrong codes were typed here recently, so for now codes are only accepted from people who are signed in. Sign in, then type the code from your device.
page-frozen-title = Your account is frozen
page-frozen-text = A change of email address that was still waiting is cancelled, every device is signed out, and nobody can sign in or reset the password. The email address was not moved back. Please contact { $tenant_name } support: they will check with you and unlock the account.

## Form labels (ids emitted by the flow engine)

label-email = Email address
label-password = Password
label-new-password = New password
label-current-password = Current password
label-code = Code
label-identifier = Email address or username
label-accept-terms = I accept the terms of service and the privacy notice
label-current-email = Current email address: { $email }
# Shown before a moment in a list of signed-in devices, e.g. "Signed in 23 Nov 2026, 14:05 UTC".
label-time-created-at = Signed in
# Shown before the moment a customer allowed an app, in "Apps with access".
label-time-granted-at = Allowed
label-time-last-seen-at = Last active
label-time-expires-at = Expires

## Buttons

button-sign-in = Sign in
button-email-code = Email me a sign-in code
button-sign-up = Create account
button-continue = Continue
button-send-code = Send code
button-verify = Confirm
button-save = Save
button-resend = Send a new code
button-sign-out = Sign out
button-revoke = Sign out this session

## Messages (ids emitted by the flow engine)

error-invalid-credentials = That combination of email address and password did not work. Please check both and try again.
error-method-unavailable = That way of signing in is not available here. Choose one of those shown.
error-sign-in-again = Your account changed while you were signing in. Please sign in again.
error-session-changed = You are no longer signed in as before. Please sign in.
error-required = Please fill in this field.
error-invalid-email = Please enter a valid email address, like name@example.com.
error-password-too-short = Use at least { $min } characters.
error-password-too-long = Use at most { $max } characters.
error-password-common = This password is very common and easy to guess. Please choose another one.
error-password-contains-context = Your password must not contain your email address or your name.
error-password-breached = This password has appeared in a data breach, so it is not safe. Please choose another one.
error-code-invalid = That code is not right. Please check it and try again.
error-code-expired = That code has expired. Please ask for a new one.
error-flow-expired = That took too long, so we started over. Please try again.
error-csrf = This form expired or was sent from another page. Please try again.
error-throttled = { $seconds ->
    [one] Too many attempts. Please wait a second and try again.
   *[other] Too many attempts. Please wait { $seconds } seconds and try again.
}
error-disposable-email = Please use a permanent email address, not a disposable one.
error-registration-closed = Sign-up is closed at the moment.
error-terms-required = Please accept the terms of service to continue.
error-attribute-invalid = The value for { $attribute } is not valid.
error-recovery-voided = This reset no longer works: the account changed while it waited (its password was changed, for example). Ask for a new code to try again.
info-code-sent = If an account exists for { $email }, we sent it a code.
info-second-factor = One more step: confirm it is you another way.
info-verification-sent = We sent you an email with a code to confirm your address.
info-profile-needed = To continue to { $purpose }, please complete your profile.
success-verified = Your email address is confirmed.
success-password-changed = Your password has been changed.
success-email-change-pending = We sent a code to your new email address. Enter it to confirm the change.
success-settings-saved = Your changes have been saved.
success-session-revoked = That session has been signed out.
success-signed-out = You are signed out.
# A signed-in device; $text is its description (browser and system), $ip is also given. The page shows
# the moments $created_at, $last_seen_at and $expires_at beside it, with the label-time-* words.
info-session = { $text }
info-consent = { $text }
button-revoke-consent = Remove this app's access
success-consent-revoked = That app no longer has access to your account.
info-session-current = { $text } (this device)
# Hints for a stronger password: beside a refused new password, and after a weak one was accepted.
info-password-weak = Your new password is saved, but it may be easy to guess.
info-password-advice-common-words = Common words and passwords are easy to guess, even with letters swapped for digits; several unrelated words together are stronger.
info-password-advice-repeated-pattern = Repeating a shorter pattern adds little strength.
info-password-advice-years = Years, such as a birth year or this year, are easy to guess.
info-password-advice-repeated-characters = Repeated characters such as "aaa" add little strength.
info-password-advice-sequences = Sequences such as "abc" or "1234" are easy to guess.
info-password-advice-keyboard = Keyboard patterns such as "qwerty" or "asdf" are easy to guess.
info-password-advice-longer = Make it longer: a few unrelated words are stronger than symbols and digits.

## Mails: mail-<name>-subject and the bodies' texts. Mail texts receive $tenant_name, $code, $link,
## $email and $expires_minutes when the mail has them.

mail-greeting = Hello,
mail-footer = This email was sent by { $tenant_name }.
mail-code-label = Your code:
mail-code-expires = { $expires_minutes ->
    [one] The code expires in one minute.
   *[other] The code expires in { $expires_minutes } minutes.
}
mail-link-intro = Or open this link:

mail-verification_code-subject = Confirm your email address for { $tenant_name }
mail-verification_code-intro = Use this code to confirm your email address for { $tenant_name }.
mail-verification_code-ignore = If you did not ask for this, you can ignore this email.
mail-sign_in_code-subject = Your sign-in code for { $tenant_name }
mail-sign_in_code-intro = Use this code to sign in to { $tenant_name }.
mail-sign_in_code-ignore = If you did not try to sign in, you can ignore this email; nobody can sign in without the code. If this keeps happening, consider changing your password.

mail-recovery_code-subject = Reset your { $tenant_name } password
mail-recovery_code-intro = Use this code to reset the password of your { $tenant_name } account.
mail-recovery_code-ignore = If you did not ask to reset your password, you can ignore this email. Your password stays the same.

mail-email_change_code-subject = Confirm your new email address for { $tenant_name }
mail-email_change_code-intro = Use this code to confirm { $email } as the new email address of your { $tenant_name } account.
mail-email_change_code-ignore = If you did not ask for this change, you can ignore this email. Nothing will change.

mail-email_changed_notice-subject = The email address of your { $tenant_name } account was changed
mail-email_changed_notice-body = { $change ->
    [pending] Someone asked to change the email address of your { $tenant_name } account to another address. Nothing changes until the new address is confirmed.
   *[other] The email address of your { $tenant_name } account has just been changed. From now on, we will send messages about your account to the new address.
}
mail-email_changed_notice-next = If you did not ask for this, open the link below within { $undo_hours } hours. It asks you to confirm first; if you do, the account is frozen: a change still waiting is cancelled, every device is signed out, and nobody can sign in or reset the password until our support team has checked with you. The address is not moved back.

mail-password_changed_notice-subject = Your { $tenant_name } password was changed
mail-password_changed_notice-body = The password of your { $tenant_name } account has just been changed.
mail-password_changed_notice-next = If you did not change it, reset your password right away and contact support.

mail-account_exists-subject = You already have a { $tenant_name } account
mail-account_exists-body = Someone, hopefully you, tried to create a { $tenant_name } account with this email address. You already have an account with it, so we did not create a new one.
mail-account_exists-next = You can sign in with your existing account:
mail-account_exists-recovery = Forgotten your password? You can reset it here:
mail-account_exists-ignore = If this was not you, you can ignore this email. Nobody can use your account without your password.
