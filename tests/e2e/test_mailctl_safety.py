"""mailctl never follows a symbolic link planted in the mail tree (issue 19 item 1).

The mail user owns everything under <mail_root>/<domain>/, so it can replace
any directory there with a symlink.  mailctl deluser runs as root; it must
delete only what really lies inside the user's Maildir and refuse, clearly,
what would lead it elsewhere.  The victims here belong to the mail user too,
so only the walk itself (not the privilege drop) can protect them.
"""

import os
import pwd
import unittest

from harness import start_postroom


def tree(top):
    """Every path under top with the bytes of each file (what must stay intact)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for n in dirnames:
            out[os.path.relpath(os.path.join(dirpath, n), top)] = None
        for n in filenames:
            p = os.path.join(dirpath, n)
            with open(p, 'rb') as f:
                out[os.path.relpath(p, top)] = f.read()
    return out


class DeluserSymlinkCase(unittest.TestCase):
    def setUp(self):
        self.pr = start_postroom(self, daemons=())
        self.n = 0

    def chown(self, path):
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self.pr.user)
            os.lchown(path, pw.pw_uid, pw.pw_gid)

    def victim(self, real):
        """Move the directory real out of the mail tree, put a file in every
        directory of it, and leave a symlink to it in its place."""
        self.n += 1
        v = os.path.join(self.pr.dir, 'victim%d' % self.n)
        os.rename(real, v)
        for dirpath, dirnames, filenames in os.walk(v):
            p = os.path.join(dirpath, 'precious')
            with open(p, 'w') as f:
                f.write('keep me\n')
            self.chown(p)
        os.symlink(v, real)
        self.chown(real)
        return v

    def deluser(self, addr):
        return self.pr.mailctl('deluser', addr, check=False)

    def assert_refused(self, addr, link, victim):
        before = tree(victim)
        self.assertGreater(len(before), 3)
        p = self.deluser(addr)
        self.assertEqual(tree(victim), before, 'deluser deleted through %s' % link)
        self.assertNotEqual(p.returncode, 0, p.stderr)
        self.assertIn('symbolic link', p.stderr)
        self.assertIn(link, p.stderr)
        self.assertIn('not deleted', p.stderr)
        self.assertTrue(os.path.islink(link))

    def test_symlinked_user_dir(self):
        self.pr.add_user('carol@example.test', 'pw')
        link = os.path.join(self.pr.mail_root, 'example.test', 'carol')
        self.assert_refused('carol@example.test', link, self.victim(link))

    def test_symlinked_maildir(self):
        self.pr.add_user('carol@example.test', 'pw')
        link = self.pr.maildir('carol@example.test')
        self.assert_refused('carol@example.test', link, self.victim(link))

    def test_symlinked_domain_dir(self):
        self.pr.add_domain('other.test')
        self.pr.add_user('x@other.test', 'pw')
        link = os.path.join(self.pr.mail_root, 'other.test')
        self.assert_refused('x@other.test', link, self.victim(link))

    def test_symlinks_inside_maildir_are_not_followed(self):
        self.pr.add_user('carol@example.test', 'pw')
        md = self.pr.maildir('carol@example.test')
        victims = [self.victim(os.path.join(md, 'cur')),
                   self.victim(os.path.join(md, '.Trash'))]
        # A symlink to a file, too: removing the link must leave the file.
        target = os.path.join(victims[0], 'precious')
        os.symlink(target, os.path.join(md, 'new', 'link-to-file'))
        before = [tree(v) for v in victims]
        p = self.deluser('carol@example.test')
        self.assertEqual([tree(v) for v in victims], before)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('symbolic link', p.stderr)
        # The user's own tree (links included) is gone, and only it.
        self.assertFalse(os.path.lexists(os.path.dirname(md)))
        self.assertTrue(os.path.isdir(self.pr.maildir('alice@example.test')))

    def test_plain_deluser_still_removes_everything(self):
        self.pr.add_user('carol@example.test', 'pw')
        md = self.pr.maildir('carol@example.test')
        with open(os.path.join(md, 'cur', 'msg'), 'w') as f:
            f.write('x\n')
        p = self.deluser('carol@example.test')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, '')
        self.assertFalse(os.path.lexists(os.path.dirname(md)))
        self.assertTrue(os.path.isdir(os.path.join(self.pr.mail_root, 'example.test')))


if __name__ == '__main__':
    unittest.main()
