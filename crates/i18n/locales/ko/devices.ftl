# 장치 자격 증명, OAuth, 커넥터(이슈 7).

device-credential-created = { $address } 사서함의 "{ $name }" 장치 자격 증명을 만들었습니다. 장치에 사용자 이름은 { $address }, 암호는 이 값을 입력하세요. 이 값은 지금만 표시됩니다:
device-credential-scope = 이 자격 증명은 { $address }(및 다른 사람 이름으로 보내기 주소)로 SMTP 제출을 할 때만 사용할 수 있으며, 다른 어떤 로그인에도 사용할 수 없습니다.
device-credential-allow-any = 모든 클라이언트 주소에서 사용할 수 있습니다. --allow 옵션으로 제한하세요(예: --allow 192.0.2.10/32).
device-credential-allow-list = 다음 주소에서만 사용할 수 있습니다: { $list }
device-credential-expires = 만료: { $date }
device-credential-never-expires = 만료되지 않습니다. `authrelay device-credential revoke { $address } --name "{ $name }"` 명령으로 폐기할 수 있습니다.
device-credential-org-blocks = 참고: "{ $org }" 조직에서 장치 자격 증명을 차단하고 있으므로, 관리자가 `authrelay org set { $org } --device-credentials allowed` 명령을 실행하기 전까지 이 자격 증명은 거부됩니다.
device-credential-smtp-auth-off = 참고: { $address } 사서함의 인증된 SMTP가 꺼져 있으므로, 관리자가 `authrelay user set { $address } --smtp-auth enabled` 명령을 실행하기 전까지 이 자격 증명은 거부됩니다.
device-credential-none = { $address } 사서함에 장치 자격 증명이 없습니다. `authrelay device-credential add { $address } --name NAME` 명령으로 만드세요.
device-credential-revoked = { $address } 사서함의 "{ $name }" 장치 자격 증명을 폐기했습니다. 이 자격 증명을 사용하던 장치는 더 이상 메일을 보낼 수 없습니다.
device-credential-list-header = 이름 / 태그 / 허용 주소 / 만료 / 만든 날짜 / 마지막 사용 / 마지막 주소
device-credential-any-address = 모든 주소
device-credential-never = 없음
err-unknown-device-credential = { $address } 사서함에 이름이 "{ $name }"인 장치 자격 증명이 없습니다. `authrelay device-credential list { $address }` 명령으로 장치 자격 증명 목록을 확인하세요.
err-device-credential-exists = { $address } 사서함에 이름이 "{ $name }"인 장치 자격 증명이 이미 있습니다. 다른 이름을 사용하거나, `authrelay device-credential revoke { $address } --name { $name }` 명령으로 기존 자격 증명을 먼저 폐기하세요.
err-too-many-device-credentials = { $address } 사서함의 장치 자격 증명이 허용되는 최대 개수인 40개에 도달했습니다. `authrelay device-credential revoke { $address } --name NAME` 명령으로 사용하지 않는 자격 증명을 폐기하세요.
err-bad-device-credential-name = 장치 자격 증명에는 제어 문자(줄바꿈, 이스케이프) 없이 1~64자의 이름이 필요합니다(예: --name "2층 프린터").
err-bad-cidr = "{ $value }"은(는) 주소 범위가 아닙니다. 192.0.2.0/24, 2001:db8::/48 형식이나 192.0.2.10 같은 단일 주소로 쓰세요.
err-bad-expiry = "{ $value }"은(는) 날짜가 아닙니다. --expires 2027-06-30(그날 UTC 기준 끝까지 유효) 또는 2027-06-30T18:00:00Z 형식으로 쓰거나 --expires-in DAYS를 사용하세요.
err-expiry-past = 만료 시각 { $value }이(가) 미래가 아닙니다. 더 나중의 날짜를 선택하거나, 만료되지 않는 자격 증명을 원하면 --expires를 빼세요.
label-device-credentials = 장치 자격 증명
fix-device-credential-add = 보안 기본값과 다단계 인증(MFA)을 유지하고 장치에 { $user } 사서함의 장치 자격 증명을 발급
fix-device-credential-note = 마지막 명령은 비밀 값을 한 번만 표시합니다. 장치에 암호로 입력하세요. 이 사서함으로 SMTP 제출을 할 때만 사용할 수 있으며, --allow CIDR 및 --expires-in DAYS로 제한할 수 있습니다.
path-device-credential = 활성 사용자 → { $user } → 장치 자격 증명 → 추가(또는 위의 CLI 명령)
err-oauth = OAuth를 설정할 수 없습니다(구성의 [oauth]): { $reason }. `authrelay config check` 명령으로 issuer, jwks_uri, ca_file을 확인하세요.
doctor-security-defaults-on-device-credentials = 사용: 계정 암호와 앱 암호는 거부되지만 이 사서함의 장치 자격 증명 { $count }개는 사용할 수 있습니다. 장치는 그중 하나를 사용해야 합니다.
doctor-mfa-on-device-credentials = { $mfa }: 계정 암호는 거부되지만 이 사서함의 장치 자격 증명 { $count }개는 사용할 수 있습니다. 장치는 그중 하나를 사용해야 합니다.

## 감사 로그 페이지에 표시되는 장치 자격 증명 변경(및 잠금 해제) 이름.
action-user-device-credential-add = 장치 자격 증명 만듦
action-user-device-credential-revoke = 장치 자격 증명 폐기
action-org-device-credentials = 장치 자격 증명(조직)
action-user-unlock = 스마트 잠금 해제
