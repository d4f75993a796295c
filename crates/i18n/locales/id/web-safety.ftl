# Bantuan tata letak pusat admin dan konfirmasi perubahan yang melemahkan atau merusak (issue 20).
web-skip-to-content = Langsung ke konten utama
web-menu = Menu
