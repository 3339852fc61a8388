"""REST JSON shapes, field for field as in the recorded api.github.com fixtures.

``url`` fields point at the emulator's own base URL (it serves both
api.github.com and github.com), so clients can follow them.
"""

from __future__ import annotations

from .data import GHOST, Org, PullRequest, Repo, Review, User, iso

_REACTIONS = {
    "total_count": 0,
    "+1": 0,
    "-1": 0,
    "laugh": 0,
    "hooray": 0,
    "confused": 0,
    "heart": 0,
    "rocket": 0,
    "eyes": 0,
}


class Renderer:
    def __init__(self, base_url: str):
        self.api = base_url
        self.web = base_url
        self._users: dict[int, dict] = {}
        self._repos: dict[int, tuple] = {}

    # -- accounts ----------------------------------------------------------

    def simple_user(self, user: User | None) -> dict:
        """The ``simple-user`` shape; a deleted account renders as ``ghost``."""
        user = user or GHOST
        cached = self._users.get(user.id)
        if cached is None or cached["login"] != user.login:
            cached = self._account(user.login, user.id, user.node_id, user.avatar_url, "User")
            self._users[user.id] = cached
        return cached

    def org_as_owner(self, org: Org) -> dict:
        """Repositories describe their owning org in the simple-user shape."""
        return self._account(org.login, org.id, org.node_id, org.avatar_url, "Organization")

    def _account(self, login: str, id: int, node_id: str, avatar_url: str, kind: str) -> dict:
        base = f"{self.api}/users/{login}"
        return {
            "login": login,
            "id": id,
            "node_id": node_id,
            "avatar_url": avatar_url,
            "gravatar_id": "",
            "url": base,
            "html_url": f"{self.web}/{login}",
            "followers_url": f"{base}/followers",
            "following_url": f"{base}/following{{/other_user}}",
            "gists_url": f"{base}/gists{{/gist_id}}",
            "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{base}/subscriptions",
            "organizations_url": f"{base}/orgs",
            "repos_url": f"{base}/repos",
            "events_url": f"{base}/events{{/privacy}}",
            "received_events_url": f"{base}/received_events",
            "type": kind,
            "user_view_type": "public",
            "site_admin": False,
        }

    def full_user(self, user: User, orgs_count: int = 0, private: bool = False) -> dict:
        payload = dict(self.simple_user(user))
        payload.update(
            {
                "name": user.name,
                "company": user.company,
                "blog": "",
                "location": user.location,
                "email": None,
                "hireable": None,
                "bio": None,
                "twitter_username": None,
                "notification_email": None,
                "public_repos": 8,
                "public_gists": 1,
                "followers": 20 + user.id % 300,
                "following": user.id % 40,
                "created_at": iso(user.created_at),
                "updated_at": iso(user.created_at + 86400 * 400),
            }
        )
        if private:
            payload.update(
                {
                    "private_gists": 0,
                    "total_private_repos": 0,
                    "owned_private_repos": 0,
                    "disk_usage": 1024,
                    "collaborators": 0,
                    "two_factor_authentication": True,
                    "plan": {"name": "pro", "space": 976562499, "collaborators": 0, "private_repos": 9999},
                }
            )
        return payload

    def simple_org(self, org: Org) -> dict:
        base = f"{self.api}/orgs/{org.login}"
        return {
            "login": org.login,
            "id": org.id,
            "node_id": org.node_id,
            "url": base,
            "repos_url": f"{base}/repos",
            "events_url": f"{base}/events",
            "hooks_url": f"{base}/hooks",
            "issues_url": f"{base}/issues",
            "members_url": f"{base}/members{{/member}}",
            "public_members_url": f"{base}/public_members{{/member}}",
            "avatar_url": org.avatar_url,
            "description": org.description,
        }

    def full_org(self, org: Org) -> dict:
        private = sum(1 for r in org.repos.values() if r.private)
        payload = self.simple_org(org)
        payload.update(
            {
                "name": org.name,
                "company": None,
                "blog": f"https://{org.login.lower()}.example.com",
                "location": None,
                "email": None,
                "twitter_username": None,
                "is_verified": False,
                "has_organization_projects": True,
                "has_repository_projects": True,
                "public_repos": len(org.repos) - private,
                "public_gists": 0,
                "followers": 0,
                "following": 0,
                "html_url": f"{self.web}/{org.login}",
                "created_at": iso(org.created_at),
                "updated_at": iso(org.created_at + 86400 * 30),
                "archived_at": None,
                "type": "Organization",
                # Admin-only fields below: the viewer administers every org.
                "total_private_repos": private,
                "owned_private_repos": private,
                "private_gists": 0,
                "disk_usage": 1000 * len(org.repos),
                "collaborators": 0,
                "billing_email": f"billing@{org.login.lower()}.example.com",
                "default_repository_permission": "read",
                "members_can_create_repositories": True,
                "two_factor_requirement_enabled": True,
                "members_allowed_repository_creation_type": "all",
                "members_can_create_public_repositories": True,
                "members_can_create_private_repositories": True,
                "members_can_create_internal_repositories": False,
                "members_can_create_pages": True,
                "members_can_fork_private_repositories": False,
                "members_can_create_public_pages": True,
                "members_can_create_private_pages": True,
                "web_commit_signoff_required": False,
                "plan": {
                    "name": "team",
                    "space": 976562499,
                    "private_repos": 999999,
                    "filled_seats": len(org.members),
                    "seats": len(org.members) + 5,
                },
            }
        )
        return payload

    # -- repositories ------------------------------------------------------

    def repo(self, repo: Repo, full: bool = False) -> dict:
        """The ``repository`` shape (``full`` adds the single-repo extras)."""
        cached = self._repos.get(repo.id)
        if cached is None or cached[0] != repo.version:
            cached = (repo.version, self._repo(repo))
            self._repos[repo.id] = cached
        payload = cached[1]
        if not full:
            return payload
        payload = dict(payload)
        payload.update(
            {
                "temp_clone_token": "",
                "custom_properties": {},
                "organization": self.org_as_owner(repo.org),
                "network_count": repo.forks,
                "subscribers_count": 3 + repo.stars // 10,
            }
        )
        return payload

    def _repo(self, repo: Repo) -> dict:
        api, web, full = self.api, self.web, repo.full_name
        base = f"{api}/repos/{full}"
        open_issues = repo.count(frozenset({"OPEN"}))
        return {
            "id": repo.id,
            "node_id": repo.node_id,
            "name": repo.name,
            "full_name": full,
            "private": repo.private,
            "owner": self.org_as_owner(repo.org),
            "html_url": f"{web}/{full}",
            "description": repo.description,
            "fork": False,
            "url": base,
            "forks_url": f"{base}/forks",
            "keys_url": f"{base}/keys{{/key_id}}",
            "collaborators_url": f"{base}/collaborators{{/collaborator}}",
            "teams_url": f"{base}/teams",
            "hooks_url": f"{base}/hooks",
            "issue_events_url": f"{base}/issues/events{{/number}}",
            "events_url": f"{base}/events",
            "assignees_url": f"{base}/assignees{{/user}}",
            "branches_url": f"{base}/branches{{/branch}}",
            "tags_url": f"{base}/tags",
            "blobs_url": f"{base}/git/blobs{{/sha}}",
            "git_tags_url": f"{base}/git/tags{{/sha}}",
            "git_refs_url": f"{base}/git/refs{{/sha}}",
            "trees_url": f"{base}/git/trees{{/sha}}",
            "statuses_url": f"{base}/statuses/{{sha}}",
            "languages_url": f"{base}/languages",
            "stargazers_url": f"{base}/stargazers",
            "contributors_url": f"{base}/contributors",
            "subscribers_url": f"{base}/subscribers",
            "subscription_url": f"{base}/subscription",
            "commits_url": f"{base}/commits{{/sha}}",
            "git_commits_url": f"{base}/git/commits{{/sha}}",
            "comments_url": f"{base}/comments{{/number}}",
            "issue_comment_url": f"{base}/issues/comments{{/number}}",
            "contents_url": f"{base}/contents/{{+path}}",
            "compare_url": f"{base}/compare/{{base}}...{{head}}",
            "merges_url": f"{base}/merges",
            "archive_url": f"{base}/{{archive_format}}{{/ref}}",
            "downloads_url": f"{base}/downloads",
            "issues_url": f"{base}/issues{{/number}}",
            "pulls_url": f"{base}/pulls{{/number}}",
            "milestones_url": f"{base}/milestones{{/number}}",
            "notifications_url": f"{base}/notifications{{?since,all,participating}}",
            "labels_url": f"{base}/labels{{/name}}",
            "releases_url": f"{base}/releases{{/id}}",
            "deployments_url": f"{base}/deployments",
            "created_at": iso(repo.created_at),
            "updated_at": iso(repo.updated_at),
            "pushed_at": iso(repo.pushed_at),
            "git_url": f"git://{web.split('://', 1)[-1]}/{full}.git",
            "ssh_url": f"git@{web.split('://', 1)[-1].split(':')[0]}:{full}.git",
            "clone_url": f"{web}/{full}.git",
            "svn_url": f"{web}/{full}",
            "homepage": None,
            "size": 1000 + repo.id % 50000,
            "stargazers_count": repo.stars,
            "watchers_count": repo.stars,
            "language": repo.language,
            "has_issues": True,
            "has_projects": True,
            "has_downloads": True,
            "has_wiki": not repo.private,
            "has_pages": False,
            "has_discussions": False,
            "forks_count": repo.forks,
            "mirror_url": None,
            "archived": False,
            "disabled": False,
            "open_issues_count": open_issues,
            "license": None,
            "allow_forking": not repo.private,
            "is_template": False,
            "web_commit_signoff_required": False,
            "topics": [],
            "visibility": "private" if repo.private else "public",
            "forks": repo.forks,
            "open_issues": open_issues,
            "watchers": repo.stars,
            "default_branch": repo.default_branch,
            "permissions": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
            "allow_squash_merge": True,
            "allow_merge_commit": True,
            "allow_rebase_merge": True,
            "allow_auto_merge": False,
            "delete_branch_on_merge": True,
            "allow_update_branch": False,
            "use_squash_pr_title_as_default": False,
        }

    # -- pull requests -----------------------------------------------------

    def _association(self, pr_repo: Repo, user: User | None) -> str:
        if user is None:
            return "NONE"
        return "MEMBER" if user.id in pr_repo.org.roles else "CONTRIBUTOR"

    def pull_request(self, pr: PullRequest, full: bool = False) -> dict:
        repo = pr.repo
        api, web, full_name, n = self.api, self.web, repo.full_name, pr.number
        base = f"{api}/repos/{full_name}"
        html_url = f"{web}/{full_name}/pull/{n}"
        repo_payload = self.repo(repo)
        owner = repo_payload["owner"]
        head_ref = pr.head_ref
        payload = {
            "url": f"{base}/pulls/{n}",
            "id": pr.id,
            "node_id": pr.node_id,
            "html_url": html_url,
            "diff_url": f"{html_url}.diff",
            "patch_url": f"{html_url}.patch",
            "issue_url": f"{base}/issues/{n}",
            "number": n,
            "state": pr.rest_state,
            "locked": False,
            "title": pr.title,
            "user": self.simple_user(pr.author),
            "body": pr.body,
            "created_at": iso(pr.created_at),
            "updated_at": iso(pr.updated_at),
            "closed_at": iso(pr.closed_at),
            "merged_at": iso(pr.merged_at),
            "merge_commit_sha": pr.merge_commit_sha,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [self.simple_user(u) for u in pr.requested_reviewers()],
            "requested_teams": [],
            "labels": [],
            "milestone": None,
            "draft": pr.draft,
            "commits_url": f"{base}/pulls/{n}/commits",
            "review_comments_url": f"{base}/pulls/{n}/comments",
            "review_comment_url": f"{base}/pulls/comments{{/number}}",
            "comments_url": f"{base}/issues/{n}/comments",
            "statuses_url": f"{base}/statuses/{pr.head_sha}",
            "head": {
                "label": f"{repo.org.login}:{head_ref}",
                "ref": head_ref,
                "sha": pr.head_sha,
                "user": owner,
                "repo": repo_payload,
            },
            "base": {
                "label": f"{repo.org.login}:{repo.default_branch}",
                "ref": repo.default_branch,
                "sha": pr.head_sha[::-1],
                "user": owner,
                "repo": repo_payload,
            },
            "_links": {
                "self": {"href": f"{base}/pulls/{n}"},
                "html": {"href": html_url},
                "issue": {"href": f"{base}/issues/{n}"},
                "comments": {"href": f"{base}/issues/{n}/comments"},
                "review_comments": {"href": f"{base}/pulls/{n}/comments"},
                "review_comment": {"href": f"{base}/pulls/comments{{/number}}"},
                "commits": {"href": f"{base}/pulls/{n}/commits"},
                "statuses": {"href": f"{base}/statuses/{pr.head_sha}"},
            },
            "author_association": self._association(repo, pr.author),
            "auto_merge": None,
            "active_lock_reason": None,
        }
        if full:
            merged = pr.state == "MERGED"
            payload.update(
                {
                    "merged": merged,
                    "mergeable": None if pr.state != "OPEN" else True,
                    "rebaseable": None if pr.state != "OPEN" else True,
                    "mergeable_state": "clean" if pr.state == "OPEN" else "unknown",
                    "merged_by": self.simple_user(pr.author) if merged else None,
                    "comments": pr.comments,
                    "review_comments": len(pr.review_comments()),
                    "maintainer_can_modify": False,
                    "commits": pr.commits,
                    "additions": pr.additions,
                    "deletions": pr.deletions,
                    "changed_files": pr.changed_files,
                }
            )
        return payload

    def issue(self, pr: PullRequest) -> dict:
        """A PR as the issues API shows it: issue id, with a ``pull_request`` key."""
        repo = pr.repo
        base = f"{self.api}/repos/{repo.full_name}"
        n = pr.number
        html_url = f"{self.web}/{repo.full_name}/pull/{n}"
        return {
            "url": f"{base}/issues/{n}",
            "repository_url": base,
            "labels_url": f"{base}/issues/{n}/labels{{/name}}",
            "comments_url": f"{base}/issues/{n}/comments",
            "events_url": f"{base}/issues/{n}/events",
            "html_url": html_url,
            "id": pr.issue_id,
            "node_id": pr.node_id,
            "number": n,
            "title": pr.title,
            "user": self.simple_user(pr.author),
            "labels": [],
            "state": pr.rest_state,
            "locked": False,
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": pr.comments,
            "created_at": iso(pr.created_at),
            "updated_at": iso(pr.updated_at),
            "closed_at": iso(pr.closed_at),
            "author_association": self._association(repo, pr.author),
            "type": None,
            "active_lock_reason": None,
            "draft": pr.draft,
            "pull_request": {
                "url": f"{base}/pulls/{n}",
                "html_url": html_url,
                "diff_url": f"{html_url}.diff",
                "patch_url": f"{html_url}.patch",
                "merged_at": iso(pr.merged_at),
            },
            "body": pr.body,
            "reactions": {"url": f"{base}/issues/{n}/reactions", **_REACTIONS},
            "timeline_url": f"{base}/issues/{n}/timeline",
            "performed_via_github_app": None,
            "state_reason": None,
        }

    def review(self, review: Review) -> dict:
        pr = review.pr
        html_url = f"{self.web}/{pr.repo.full_name}/pull/{pr.number}#pullrequestreview-{review.id}"
        pull_url = f"{self.api}/repos/{pr.repo.full_name}/pulls/{pr.number}"
        return {
            "id": review.id,
            "node_id": review.node_id,
            # Review authors are nullable in REST (unlike PR authors).
            "user": self.simple_user(review.author) if review.author else None,
            "body": review.body,
            "state": review.state,
            "html_url": html_url,
            "pull_request_url": pull_url,
            "author_association": self._association(pr.repo, review.author),
            "_links": {"html": {"href": html_url}, "pull_request": {"href": pull_url}},
            "submitted_at": iso(review.submitted_at),
            "commit_id": review.commit_id,
        }

    def commit(self, pr: PullRequest, commit) -> dict:
        base = f"{self.api}/repos/{pr.repo.full_name}"
        author = commit.author
        who = {
            "name": (author.name or author.login) if author else "Deleted user",
            "email": f"{author.login.lower()}@users.noreply.github.com" if author else "ghost@example.com",
            "date": iso(commit.date),
        }
        return {
            "sha": commit.sha,
            "node_id": "C_" + commit.sha[:20],
            "commit": {
                "author": who,
                "committer": who,
                "message": commit.message,
                "tree": {"sha": commit.sha[::-1], "url": f"{base}/git/trees/{commit.sha[::-1]}"},
                "url": f"{base}/git/commits/{commit.sha}",
                "comment_count": 0,
                "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None},
            },
            "url": f"{base}/commits/{commit.sha}",
            "html_url": f"{self.web}/{pr.repo.full_name}/commit/{commit.sha}",
            "comments_url": f"{base}/commits/{commit.sha}/comments",
            "author": self.simple_user(author) if author else None,
            "committer": self.simple_user(author) if author else None,
            "parents": (
                [
                    {
                        "sha": commit.parent_sha,
                        "url": f"{base}/commits/{commit.parent_sha}",
                        "html_url": f"{self.web}/{pr.repo.full_name}/commit/{commit.parent_sha}",
                    }
                ]
                if commit.parent_sha
                else []
            ),
        }

    def review_comment(self, pr: PullRequest, comment) -> dict:
        base = f"{self.api}/repos/{pr.repo.full_name}"
        review = comment.review
        html_url = f"{self.web}/{pr.repo.full_name}/pull/{pr.number}#discussion_r{comment.id}"
        return {
            "url": f"{base}/pulls/comments/{comment.id}",
            "pull_request_review_id": review.id,
            "id": comment.id,
            "node_id": f"PRRC_{review.node_id[4:]}{comment.id % 1000}",
            "diff_hunk": f"@@ -{comment.line},6 +{comment.line},8 @@",
            "path": comment.path,
            "commit_id": pr.head_sha,
            "original_commit_id": pr.head_sha,
            "user": self.simple_user(review.author) if review.author else None,
            "body": comment.body,
            "created_at": iso(review.submitted_at),
            "updated_at": iso(review.submitted_at),
            "html_url": html_url,
            "pull_request_url": f"{base}/pulls/{pr.number}",
            "author_association": self._association(pr.repo, review.author),
            "_links": {
                "self": {"href": f"{base}/pulls/comments/{comment.id}"},
                "html": {"href": html_url},
                "pull_request": {"href": f"{base}/pulls/{pr.number}"},
            },
            "reactions": {"url": f"{base}/pulls/comments/{comment.id}/reactions", **_REACTIONS},
            "start_line": None,
            "original_start_line": None,
            "start_side": None,
            "line": comment.line,
            "original_line": comment.line,
            "side": "RIGHT",
            "position": comment.line,
            "original_position": comment.line,
            "subject_type": "line",
        }
