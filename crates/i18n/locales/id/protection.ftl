# Penguncian cerdas dan batas per organisasi (authrelay user unlock, org set/show, user show).
user-unlocked = Kunci { $address } telah dibuka: pengguna ini dapat langsung masuk lagi dari alamat mana pun.
user-unlock-not-locked = { $address } tidak sedang terkunci; penghitung kegagalannya tetap dikosongkan.
label-lockout = Penguncian
lockout-none = tidak terkunci
lockout-locked = terkunci hingga { $until } ({ $where })
lockout-counting = { $failures } upaya masuk gagal baru-baru ini ({ $where })
lockout-where-unfamiliar = dari alamat yang tidak dikenal
lockout-where-familiar = dari alamat yang dikenal { $ip }
label-max-message-size = Ukuran pesan maksimum
label-max-recipients = Penerima per pesan
label-daily-recipients = Penerima per 24 jam
label-max-sessions = Sesi per kotak surat
limit-server-default = bawaan server
