# 스마트 잠금과 조직별 제한 (authrelay user unlock, org set/show, user show).
user-unlocked = { $address } 사용자의 잠금을 해제했습니다. 이제 어느 주소에서든 바로 로그인할 수 있습니다.
user-unlock-not-locked = { $address } 사용자는 잠겨 있지 않았습니다. 실패 횟수는 초기화했습니다.
label-lockout = 잠금
lockout-none = 잠기지 않음
lockout-locked = { $until }까지 잠김 ({ $where })
lockout-counting = 최근 로그인 실패 { $failures }회 ({ $where })
lockout-where-unfamiliar = 익숙하지 않은 주소에서
lockout-where-familiar = 익숙한 주소 { $ip }에서
label-max-message-size = 최대 메시지 크기
label-max-recipients = 메시지당 받는 사람 수
label-daily-recipients = 24시간당 받는 사람 수
label-max-sessions = 사서함당 세션 수
limit-server-default = 서버 기본값
