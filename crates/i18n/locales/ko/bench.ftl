# `authrelay bench`: 부하 생성기와 대기열 규모 측정 (한국어).

bench-start = { $server }에 부하를 겁니다(TLS: { $tls }). 연결 { $connections }개로 { $size }바이트 메시지 { $messages }개를 보내며, 세션당 { $per_session }개입니다(0 = 연결마다 세션 하나).
bench-hold-start = { $server }에 인증된 세션 { $connections }개를 열고 { $secs }초 동안 유휴 상태로 유지합니다.
bench-replies = 수락된 메시지 외의 응답과 오류(개수, 단계: 응답):
bench-label-accepted = 수락됨
bench-label-failed = 실패
bench-label-elapsed = 경과 시간
bench-label-msgs-per-sec = 초당 메시지
bench-label-sessions = 연 세션
bench-label-sessions-per-sec = 초당 세션
bench-label-resumed = 재개된 TLS 세션
bench-label-latency = 지연 시간 p50 / p90 / p99 / 최대
bench-queue-filled = { $path }에 메시지 { $count }개를 { $secs }초 동안 대기열에 넣었습니다(초당 { $rate }개).
bench-queue-recovered = 서버 시작 때와 같이 { $path }의 대기열을 열고 검사했습니다:
bench-label-queued = 찾은 메시지
bench-label-open = 열기(정리)
bench-label-scan = 모든 메시지 검사
bench-label-rss = 상주 메모리
bench-label-peak-rss = 최대 상주 메모리

bench-flood-start = { $sources }개의 루프백 주소에서 { $server }(으)로 AUTH 시도 { $attempts }건을 한꺼번에 보냅니다(만들어 낸 사용자에 대한 틀린 암호).
bench-flood-replies = 시도에 대한 응답(건수, 단계: 응답):
bench-label-rss-before = 시작 전 서버 메모리
bench-label-rss-max = 실행 중 관측된 최대 서버 메모리
bench-label-real-signed-in = 실행 중 실제 클라이언트 로그인 수
bench-label-real-latency = 실제 클라이언트 로그인 시간 처음 / 중앙값 / 최대
err-bench-no-server = --server 옵션으로 부하를 걸 서버를 지정하세요. 예: --server 127.0.0.1:2587
err-bench-not-loopback = { $address }은(는) 이 컴퓨터의 주소가 아닙니다. authrelay bench는 루프백 서버에만 부하를 겁니다. 127.0.0.1:PORT 또는 [::1]:PORT를 사용하세요.
err-bench-unresolvable = "{ $server }"은(는) 서버 주소가 아닙니다. 127.0.0.1:2587처럼 HOST:PORT 형식으로 쓰세요.
err-bench-zero = { $flag } 값은 1 이상이어야 합니다.
err-bench-failures = 메시지 { $total }개 중 { $failed }개가 수락되지 않았습니다. 위에 나열된 응답에서 어느 단계에서 어떤 코드로 거부되었는지 확인하고, authrelay bench에 지정한 사용자, 암호, TLS 방식을 점검하세요.
err-bench-sessions-failed = 세션 { $total }개 중 { $failed }개를 열 수 없었습니다. 위에 나열된 응답에서 원인을 확인하세요. 연결 한도에 도달했다면 서버의 listen.max_connections 또는 `ulimit -n` 값을 늘리세요.
