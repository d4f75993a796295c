# Kredensial perangkat, OAuth, dan konektor (isu 7).

device-credential-created = Kredensial perangkat "{ $name }" untuk { $address } telah dibuat. Masukkan di perangkat sebagai kata sandi, dengan { $address } sebagai nama pengguna; kredensial ini hanya ditampilkan kali ini:
device-credential-scope = Kredensial ini hanya berlaku untuk pengiriman SMTP sebagai { $address } (dan alamat kirim-sebagai miliknya), tidak untuk proses masuk lainnya.
device-credential-allow-any = Dapat dipakai dari alamat klien mana pun. Batasi dengan --allow, misalnya --allow 192.0.2.10/32.
device-credential-allow-list = Hanya dapat dipakai dari: { $list }
device-credential-expires = Kedaluwarsa: { $date }
device-credential-never-expires = Tidak pernah kedaluwarsa; cabut dengan `authrelay device-credential revoke { $address } --name "{ $name }"`.
device-credential-org-blocks = Catatan: organisasi "{ $org }" memblokir kredensial perangkat, jadi kredensial ini akan ditolak sampai admin menjalankan `authrelay org set { $org } --device-credentials allowed`.
device-credential-smtp-auth-off = Catatan: SMTP Terautentikasi nonaktif untuk { $address }, jadi kredensial ini akan ditolak sampai admin menjalankan `authrelay user set { $address } --smtp-auth enabled`.
device-credential-none = { $address } tidak memiliki kredensial perangkat. Buat dengan `authrelay device-credential add { $address } --name NAME`.
device-credential-revoked = Kredensial perangkat "{ $name }" milik { $address } telah dicabut. Perangkat yang memakainya tidak dapat mengirim lagi.
device-credential-list-header = NAMA / TAG / DIIZINKAN DARI / KEDALUWARSA / DIBUAT / TERAKHIR DIPAKAI / ALAMAT TERAKHIR
device-credential-any-address = mana pun
device-credential-never = tidak pernah
err-unknown-device-credential = { $address } tidak memiliki kredensial perangkat bernama "{ $name }". Lihat daftarnya dengan `authrelay device-credential list { $address }`.
err-device-credential-exists = { $address } sudah memiliki kredensial perangkat bernama "{ $name }". Pilih nama lain, atau cabut dulu yang lama dengan `authrelay device-credential revoke { $address } --name { $name }`.
err-too-many-device-credentials = { $address } sudah memiliki 40 kredensial perangkat, jumlah maksimum yang diizinkan. Cabut yang tidak dipakai dengan `authrelay device-credential revoke { $address } --name NAME`.
err-bad-device-credential-name = kredensial perangkat memerlukan nama sepanjang 1 sampai 64 karakter tanpa karakter kontrol (pemisah baris, escape), misalnya --name "printer lantai 2".
err-bad-cidr = "{ $value }" bukan rentang alamat: tulis sebagai 192.0.2.0/24, 2001:db8::/48 atau satu alamat seperti 192.0.2.10.
err-bad-expiry = "{ $value }" bukan tanggal: tulis --expires 2027-06-30 (berlaku sampai akhir hari itu, UTC) atau 2027-06-30T18:00:00Z, atau gunakan --expires-in HARI.
err-expiry-past = waktu kedaluwarsa { $value } tidak di masa depan: pilih tanggal yang lebih lambat, atau hilangkan --expires untuk kredensial yang tidak kedaluwarsa.
label-device-credentials = Kredensial perangkat
fix-device-credential-add = Pertahankan default keamanan dan autentikasi multifaktor, lalu beri perangkat kredensial perangkat untuk { $user }
fix-device-credential-note = Perintah terakhir menampilkan rahasianya sekali saja: masukkan di perangkat sebagai kata sandi. Kredensial ini hanya berlaku untuk pengiriman SMTP sebagai kotak surat ini; batasi dengan --allow CIDR dan --expires-in HARI.
path-device-credential = Pengguna aktif → { $user } → Kredensial perangkat → Tambah (atau perintah CLI di atas)
err-oauth = tidak dapat menyiapkan OAuth ([oauth] dalam konfigurasi): { $reason }. Periksa issuer, jwks_uri, dan ca_file dengan `authrelay config check`.
doctor-security-defaults-on-device-credentials = aktif: kata sandi akun dan kata sandi aplikasi ditolak, tetapi { $count } kredensial perangkat milik kotak surat ini berfungsi; perangkat harus memakai salah satunya.
doctor-mfa-on-device-credentials = { $mfa }: kata sandi akun ditolak, tetapi { $count } kredensial perangkat milik kotak surat ini berfungsi; perangkat harus memakai salah satunya.

## Nama perubahan kredensial perangkat (dan buka kunci) di halaman Log audit.
action-user-device-credential-add = Kredensial perangkat dibuat
action-user-device-credential-revoke = Kredensial perangkat dicabut
action-org-device-credentials = Kredensial perangkat (organisasi)
action-user-unlock = Penguncian cerdas dibuka
