# 관리 센터의 레이아웃 보조 기능과, 보호를 약화하거나 되돌릴 수 없는 변경의 확인 (issue 20).
web-skip-to-content = 본문으로 건너뛰기
web-menu = 메뉴
